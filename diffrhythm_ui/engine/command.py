"""``python -m diffrhythm_ui generate``: arguments, a terminal progress bar and the JSON report."""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
from pathlib import Path

from tqdm import tqdm

from diffrhythm_ui.engine.engine import KINDS, Engine, EngineSettings
from diffrhythm_ui.engine.lyrics import validate_lrc
from diffrhythm_ui.engine.pipeline import BASE_SECONDS, GenerationRequest
from diffrhythm_ui.engine.songs import generate_to_files


def add_generate_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--lyrics", type=Path, help="LRC file ([mm:ss.xx]text lines); omit for an instrumental")
    style = parser.add_mutually_exclusive_group(required=True)
    style.add_argument("--style", help="style prompt, e.g. 'dreamy synthwave, female vocals, 90 bpm'")
    style.add_argument("--style-audio", type=Path, help="reference recording, at least 10 s (its middle 10 s)")
    parser.add_argument("--duration", type=float, default=round(BASE_SECONDS), help="seconds: up to 95, or 96-285")
    parser.add_argument("--steps", type=int, default=32)
    parser.add_argument("--cfg", type=float, default=4.0, help="classifier-free guidance strength")
    parser.add_argument("--seed", type=int, help="default: random (printed in the report)")
    parser.add_argument("--batch", type=int, default=1, help="number of variants, seeds seed, seed+1, ...")
    parser.add_argument("--format", choices=("wav", "mp3", "flac"), default="wav")
    parser.add_argument("--output", type=Path, required=True, help="output file; variants get -1, -2, ...")
    parser.add_argument("--engine", choices=KINDS, default=os.environ.get("DIFFRHYTHM_ENGINE", "real"))
    parser.add_argument("--model-dir", type=Path, default=os.environ.get("DIFFRHYTHM_MODEL_DIR"))
    parser.add_argument("--device", default="auto", choices=("auto", "cuda", "mps", "cpu"))
    parser.add_argument("--full-decode", action="store_true", help="decode in one piece (more GPU memory)")
    parser.add_argument("--json", action="store_true", help="print a JSON report on stdout")


class TerminalProgress:
    """One tqdm bar per stage on stderr, only when stderr is a terminal."""

    def __init__(self) -> None:
        self.enabled = sys.stderr.isatty()
        self.bar: tqdm | None = None
        self.stage = ""

    def __call__(self, stage: str, done: int, total: int) -> None:
        if not self.enabled:
            return
        if stage != self.stage or self.bar is None:
            self.close()
            self.stage, self.bar = stage, tqdm(total=total, desc=stage, unit="step", leave=False)
        self.bar.total = total
        self.bar.n = done
        self.bar.refresh()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def run_generate(args: argparse.Namespace) -> int:
    lyrics = args.lyrics.read_text(encoding="utf-8-sig") if args.lyrics else ""
    problems = validate_lrc(lyrics, args.duration)
    if problems:
        for problem in problems:
            print(f"{args.lyrics}:{problem.line_number}: {problem.reason}", file=sys.stderr)  # noqa: T201
        return 2
    request = GenerationRequest(
        lyrics=lyrics,
        style_prompt=args.style,
        style_audio=args.style_audio,
        duration=args.duration,
        steps=args.steps,
        cfg_strength=args.cfg,
        seed=args.seed if args.seed is not None else secrets.randbelow(2**31),
        batch=args.batch,
        chunked_decode=not args.full_decode,
    )
    request.validate()
    if not args.output.parent.is_dir():
        raise ValueError(f"output folder {args.output.parent} does not exist")
    engine = Engine(EngineSettings(kind=args.engine, model_dir=args.model_dir, device=args.device))
    progress = TerminalProgress()
    try:
        files, result = generate_to_files(engine, request, args.output, args.format, progress=progress)
    finally:
        progress.close()
    report = {
        "files": [str(f.path) for f in files],
        "seeds": [f.seed for f in files],
        "duration": request.duration,
        "model": engine.model_id(request),
        "engine": args.engine,
        "device": str(engine.device),
        "steps": request.steps,
        "cfg": request.cfg_strength,
        "timings": {stage: round(seconds, 3) for stage, seconds in result.timings.items()},
        "warnings": result.warnings,
    }
    if args.json:
        print(json.dumps(report, indent=2, ensure_ascii=False))  # noqa: T201 - the command's output
    else:
        for path in report["files"]:
            print(path)  # noqa: T201
    return 0
