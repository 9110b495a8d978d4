"""How the loop engine scales: analysis time against input length, and memory of a long render.

    python benchmarks/loop_scaling.py [--minutes 2.5 5 10] [--output-minutes 60]

For each input length a synthetic song (120 bpm, an 8-bar cycle repeated to fill it) is written to a WAV file;
in a fresh process, ``find_loop`` is timed on it, then ``make_loop_file`` renders the longest input to an
output of ``--output-minutes``. Prints seconds of analysis per minute of input (flat means linear) and the
peak resident memory of the render as a multiple of the decoded source's size (float32 stereo).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import soundfile as sf  # noqa: E402

from diffrhythm_ui.loops.synth import make_track  # noqa: E402

SR = 44100


def child(wav: str, output_minutes: float, out: str) -> None:
    """Runs in its own process: time the analysis, optionally render, report peak RSS."""
    from diffrhythm_ui.audio import read_audio
    from diffrhythm_ui.loops.api import find_loop, make_loop_file

    audio, sr = read_audio(wav)
    start = time.perf_counter()
    find_loop(audio, sr)
    analysis = time.perf_counter() - start
    render = None
    if output_minutes > 0:
        del audio
        start = time.perf_counter()
        make_loop_file(wav, out, output_minutes * 60, fade_out_s=5.0)
        render = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"analysis_s": analysis, "render_s": render, "peak_mb": peak_mb}))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, nargs="+", default=[2.5, 5.0, 10.0])
    parser.add_argument("--output-minutes", type=float, default=60.0)
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], float(args.child[1]), args.child[2])
        return 0
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for minutes in args.minutes:
            cycle_s = 8 * 4 * 60 / 120
            repeats = max(2, round((minutes * 60 - 8) / cycle_s))
            track = make_track(bpm=120, cycle_bars=8, repeats=repeats, seed=3)
            wav = Path(tmp) / f"in-{minutes}.wav"
            sf.write(wav, track.audio.T, SR, subtype="PCM_16")
            render = args.output_minutes if minutes == max(args.minutes) else 0
            command = [sys.executable, __file__, "--child", str(wav), str(render), str(Path(tmp) / "out.wav")]
            result = json.loads(subprocess.run(command, capture_output=True, text=True, check=True).stdout)
            source_mb = track.audio.shape[1] * 2 * 4 / 2**20
            rows.append((track.audio.shape[1] / SR / 60, source_mb, result))
    print(f"{'input min':>9} {'analysis s':>11} {'s per min':>10} {'render s':>9} {'peak MB':>8} {'peak/source':>12}")
    for input_min, source_mb, r in rows:
        render = f"{r['render_s']:9.1f}" if r["render_s"] is not None else f"{'-':>9}"
        print(
            f"{input_min:9.2f} {r['analysis_s']:11.2f} {r['analysis_s'] / input_min:10.3f} {render}"
            f" {r['peak_mb']:8.0f} {r['peak_mb'] / source_mb:11.1f}x"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
