"""The ``loop`` subcommand of ``python -m diffrhythm_ui``: arguments and the call into ``make_loop_file``."""

from __future__ import annotations

import argparse
import json
import logging

from diffrhythm_ui.loops.api import make_loop_file

logger = logging.getLogger(__name__)


def add_loop_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", help="audio file to loop (WAV, FLAC, MP3, OGG)")
    parser.add_argument("--duration", type=float, required=True, help="length of the output in seconds")
    parser.add_argument("--output", required=True, help="output file")
    parser.add_argument("--fade-in", type=float, default=0.0, help="fade-in in seconds (default 0)")
    parser.add_argument("--fade-out", type=float, default=0.0, help="fade-out in seconds (default 0)")
    parser.add_argument("--format", choices=("wav", "mp3", "flac"), help="output format (default: from --output)")
    parser.add_argument("--json", action="store_true", help="print the loop report as JSON")


def run_loop(args: argparse.Namespace) -> int:
    def progress(stage: str, done: int, total: int) -> None:
        if done == total:
            logger.debug("%s done", stage)

    report = make_loop_file(
        args.input,
        args.output,
        args.duration,
        fade_in_s=args.fade_in,
        fade_out_s=args.fade_out,
        fmt=args.format,
        progress=progress,
    )
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))  # noqa: T201 - the command's output
    else:
        logger.info("wrote %s (%.2f s, loop of %d bars, confidence %.2f)", report.output, report.duration_s,
                    report.loop_bars, report.confidence)  # fmt: skip
    return 0
