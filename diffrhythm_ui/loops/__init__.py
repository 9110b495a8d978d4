"""Seamless loops of any length (LOOP_SPEC.md): analysis, candidate search, seams, rendering, metrics."""

from diffrhythm_ui.loops.api import LoopChoice, LoopReport, find_loop, make_loop_file
from diffrhythm_ui.loops.exceptions import (
    AudioTooShortError,
    InvalidDurationError,
    LoopCancelledError,
    LoopError,
    SilentAudioError,
)
from diffrhythm_ui.loops.metrics import SeamMetrics, seam_metrics

__all__ = [
    "AudioTooShortError",
    "InvalidDurationError",
    "LoopCancelledError",
    "LoopChoice",
    "LoopError",
    "LoopReport",
    "SeamMetrics",
    "SilentAudioError",
    "find_loop",
    "make_loop_file",
    "seam_metrics",
]
