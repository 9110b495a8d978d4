"""Our loop engine against PyMusicLooper, side by side on the same tracks.

    python benchmarks/loop_bench.py [AUDIO_FILE ...] [--factor 3] [--pml-python benchmarks/.venv-pml/bin/python]

PyMusicLooper lives in its own virtual environment (it is not a dependency of the app):

    python3.11 -m venv benchmarks/.venv-pml && benchmarks/.venv-pml/bin/pip install pymusiclooper==3.6.0

Each tool runs in a fresh subprocess on the same WAV file: ours through ``make_loop_file``, PyMusicLooper
through ``find_loop_pairs`` (its best pair) and ``extend`` (its hard-cut render, with its default 5 s fade
out; ours gets the same fade). Both renders are ``factor`` times the track's length. Wall time and peak
resident memory (VmHWM) are those of each subprocess, imports included. Both renders are scored by the same
``seam_metrics``, over every seam outside the final fade. Synthetic tracks (diffrhythm_ui.loops.synth) have
known loop points, so the loop-point error is printed for them: the distance in ms from the nearest true loop
(start on a bar line of the repeated part, length a whole number of cycles); "off" means outside it.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import soundfile as sf  # noqa: E402

from diffrhythm_ui.audio import read_audio  # noqa: E402
from diffrhythm_ui.loops.metrics import THRESHOLDS, seam_metrics  # noqa: E402
from diffrhythm_ui.loops.synth import SynthTrack, make_track  # noqa: E402

FADE_S = 5.0
SYNTHETIC = {
    "120bpm 4/4 exact": dict(bpm=120, beats_per_bar=4, repeats=12, key=57),
    "90bpm 3/4 exact": dict(bpm=90, beats_per_bar=3, repeats=12, key=60),
    "128bpm 3/4 exact": dict(bpm=128, beats_per_bar=3, repeats=16, key=62),
    "140bpm 4/4 8-bar": dict(bpm=140, beats_per_bar=4, cycle_bars=8, repeats=6, key=52),
    "110bpm 4/4 varied": dict(bpm=110, beats_per_bar=4, repeats=12, key=55, varied=True),
    "100bpm no repeat": dict(bpm=100, beats_per_bar=4, repeats=11, key=58, repeating=False),
}

# Peak resident memory of the process since it started this program. ru_maxrss is not used: Linux carries the
# forking parent's resident size into it, which would charge each tool with the benchmark's own memory.
PEAK = """
def peak_kb():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
"""

OURS = (
    PEAK
    + """
import json, sys
from diffrhythm_ui.loops import make_loop_file
r = make_loop_file(sys.argv[1], sys.argv[2], float(sys.argv[3]), fade_out_s=float(sys.argv[4]))
print(json.dumps({"start": r.loop_start_sample, "end": r.loop_end_sample, "output": r.output, "peak_kb": peak_kb(),
                  "seams": [round(s * r.sample_rate) for s in r.seams],
                  "beat_s": 60 / r.tempo_bpm, "bar_s": 60 / r.tempo_bpm * r.beats_per_bar}))
"""
)

THEIRS = (
    PEAK
    + """
import json, os, sys, logging
logging.disable(logging.CRITICAL)
from pymusiclooper.core import MusicLooper
looper = MusicLooper(sys.argv[1])
best = looper.find_loop_pairs()[0]
out = looper.extend(best.loop_start, best.loop_end, float(sys.argv[3]), fade_length=float(sys.argv[4]),
                    output_dir=os.path.dirname(sys.argv[2]))
length = best.loop_end - best.loop_start
total = round(float(sys.argv[3]) * looper.mlaudio.rate)
copies = int((total - best.loop_start) / length)
print(json.dumps({"start": int(best.loop_start), "end": int(best.loop_end), "output": out, "peak_kb": peak_kb(),
                  "seams": [int(best.loop_start + k * length) for k in range(1, copies + 1)]}))
"""
)


def run_tool(python: str, code: str, source: Path, output: Path, seconds: float) -> tuple[dict, float, float]:
    """Run a tool in a subprocess; its JSON answer, wall seconds and peak resident memory in MB."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [python, "-c", code, str(source), str(output), str(seconds), str(FADE_S)]
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=ROOT)
    stdout = process.stdout.read()
    stderr = process.stderr.read()
    status = process.wait()
    wall = time.perf_counter() - started
    if status != 0:
        raise RuntimeError(f"{python} failed on {source.name}: {stderr.decode()[-500:]}")
    answer = json.loads(stdout.decode().strip().splitlines()[-1])
    return answer, wall, answer["peak_kb"] / 1024


def worst_metrics(answer: dict, beat_s: float, bar_s: float, loop_s: float) -> dict[str, float]:
    audio, sr = read_audio(answer["output"])
    fade_start = audio.shape[1] - FADE_S * sr
    seams = [s for s in answer["seams"] if s < fade_start - bar_s * sr]
    return seam_metrics(audio, sr, seams, beat_s, bar_s, loop_s).to_dict()


def _fmt(value: object, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float) and math.isinf(value):
        return "off"
    return f"{value:.{digits}f}"


def compare(name: str, source: Path, truth: SynthTrack | None, factor: float, pml: str, work: Path) -> list[str]:
    info = sf.info(str(source))
    seconds = round(info.duration * factor, 2)
    ours, our_time, our_mem = run_tool(sys.executable, OURS, source, work / "ours.wav", seconds)
    theirs, their_time, their_mem = run_tool(pml, THEIRS, source, work / "theirs.wav", seconds)
    beat_s, bar_s = (60 / truth.bpm, truth.bar_samples / truth.sr) if truth else (ours["beat_s"], ours["bar_s"])
    mine = worst_metrics(ours, beat_s, bar_s, (ours["end"] - ours["start"]) / info.samplerate)
    other = worst_metrics(theirs, beat_s, bar_s, (theirs["end"] - theirs["start"]) / info.samplerate)
    rate = info.samplerate
    errors = [
        truth.loop_error(a["start"], a["end"]) / rate * 1000 if truth and truth.repeating else math.nan
        for a in (ours, theirs)
    ]
    cells = [name, f"{info.duration:.0f}s", f"{_fmt(errors[0])}/{_fmt(errors[1])}"]
    for metric in THRESHOLDS:
        cells.append(f"{_fmt(mine[metric])}/{_fmt(other[metric])}")
    cells.append(f"{mine['seams']}/{other['seams']}")
    cells.append(f"{our_time:.1f}/{their_time:.1f}={our_time / their_time:.2f}")
    cells.append(f"{our_mem:.0f}/{their_mem:.0f}={our_mem / their_mem:.2f}")
    for path in (ours["output"], theirs["output"]):
        Path(path).unlink(missing_ok=True)
    return cells


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="*", type=Path, help="extra audio files to compare on (no known truth)")
    parser.add_argument("--factor", type=float, default=3.0, help="output length / track length (>= 1)")
    parser.add_argument("--pml-python", default=str(ROOT / "benchmarks/.venv-pml/bin/python"))
    parser.add_argument("--only", help="run only the synthetic tracks whose name contains this")
    args = parser.parse_args()
    header = ["track", "len", "err ms", *THRESHOLDS, "seams", "time s", "peak MB"]
    print("each cell: ours/PyMusicLooper; thresholds:", ", ".join(f"{k} {v}" for k, v in THRESHOLDS.items()))
    print(" | ".join(header))
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        cases: list[tuple[str, Path, SynthTrack | None]] = []
        for i, (name, params) in enumerate(SYNTHETIC.items()):
            if args.only and args.only not in name:
                continue
            track = make_track(**params, seed=i)
            path = work / f"synth{i}.wav"
            sf.write(path, track.audio.T, track.sr, subtype="PCM_16")
            cases.append((name, path, track))
        cases += [(f.name, f, None) for f in args.files]
        for name, path, truth in cases:
            print(" | ".join(compare(name, path, truth, args.factor, args.pml_python, work)), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
