"""Generation speed of the engine, measured side by side in one run.

    python benchmarks/engine_bench.py [--steps 32] [--cpu-steps 8]

On the CPU: the tiny engine (random weights in the official formats), a 95 s and a 285 s song. On a CUDA GPU,
also the real-size DiT (dim 2048, 16 layers, about 1.1 B parameters) with random weights and no download:
seconds per transformer pass, total seconds for each length, and peak VRAM with chunked and full decoding
(with the tiny VAE, since the official VAE cannot be faked at its real size). Prints, per run, the share of
the total spent outside the sampler and the decoder (our pipeline's overhead).
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from diffrhythm_ui.engine.checkpoint import save_dit  # noqa: E402
from diffrhythm_ui.engine.dit import DiT, DiTConfig  # noqa: E402
from diffrhythm_ui.engine.engine import Engine, EngineSettings  # noqa: E402
from diffrhythm_ui.engine.g2p import PHONE_INVENTORY  # noqa: E402
from diffrhythm_ui.engine.pipeline import GenerationRequest, sampling_passes  # noqa: E402
from diffrhythm_ui.engine.tiny import ensure_tiny_model_dir  # noqa: E402

LYRICS = "\n".join(
    f"[{m:02d}:{s:02d}.00]Line number {i} of the benchmark song"
    for i, (m, s) in enumerate((t // 60, t % 60) for t in range(5, 90, 6))
)


def run(engine: Engine, duration: float, steps: int, chunked: bool = True) -> dict[str, float]:
    request = GenerationRequest(
        lyrics=LYRICS,
        style_prompt="energetic pop rock",
        duration=duration,
        steps=steps,
        seed=1,
        chunked_decode=chunked,
    )
    engine.generate(GenerationRequest(style_prompt="warm up", duration=duration, steps=2, cfg_strength=0))
    if engine.device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    result = engine.generate(request)
    if engine.device.type == "cuda":
        torch.cuda.synchronize()
    total = time.perf_counter() - start
    sampling, decoding = result.timings["sampling"], result.timings["decoding"]
    return {
        "total_s": total,
        "per_pass_s": sampling / sampling_passes(request),
        "decode_s": decoding,
        "overhead_pct": 100 * (total - sampling - decoding) / total,
        "peak_vram_gb": torch.cuda.max_memory_allocated() / 2**30 if engine.device.type == "cuda" else float("nan"),
    }


def real_size_engine(folder: Path, device: str) -> Engine:
    """The tiny model folder with its DiTs replaced by real-size ones (random weights)."""
    for name, frames in (("DiffRhythm-1_2", 2048), ("DiffRhythm-1_2-full", 6144)):
        config = DiTConfig(max_frames=frames, text_num_embeds=len(PHONE_INVENTORY))
        save_dit(DiT(config), folder / name / "cfm_model.pt")
    return Engine(EngineSettings(kind="tiny", cache_dir=folder.parent, device=device))


def report(label: str, rows: dict[str, dict[str, float]]) -> None:
    print(f"\n{label}")
    print(f"{'song':>8} {'total s':>9} {'s/pass':>8} {'decode s':>9} {'overhead %':>11} {'peak VRAM GB':>13}")
    for song, r in rows.items():
        vram = "n/a" if math.isnan(r["peak_vram_gb"]) else f"{r['peak_vram_gb']:.2f}"
        print(
            f"{song:>8} {r['total_s']:9.2f} {r['per_pass_s']:8.3f} {r['decode_s']:9.2f} {r['overhead_pct']:11.1f}"
            f" {vram:>13}"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=32, help="sampler steps on the GPU")
    parser.add_argument("--cpu-steps", type=int, default=8, help="sampler steps for the tiny engine on the CPU")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tiny = Engine(EngineSettings(kind="tiny", cache_dir=Path(tmp), device="cpu"))
        rows = {f"{d} s": run(tiny, d, args.cpu_steps) for d in (95, 285)}
        report(f"tiny engine, CPU, {args.cpu_steps} steps, CFG 4 ({torch.get_num_threads()} threads)", rows)
        if not torch.cuda.is_available():
            print("\nNo CUDA GPU here: the real-size runs were skipped.")
            return 0
        folder = ensure_tiny_model_dir(Path(tmp) / "real-size")
        engine = real_size_engine(folder, "cuda")
        rows = {f"{d} s": run(engine, d, args.steps) for d in (95, 285)}
        rows.update({f"{d} s full": run(engine, d, args.steps, chunked=False) for d in (95, 285)})
        report(f"real-size DiT, {torch.cuda.get_device_name()}, {engine.dtype}, {args.steps} steps", rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
