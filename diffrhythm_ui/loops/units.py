"""Explicit conversions between samples, seconds and bars."""

from __future__ import annotations


def samples_to_seconds(samples: float, sr: int) -> float:
    return samples / sr


def seconds_to_samples(seconds: float, sr: int) -> int:
    return int(round(seconds * sr))


def samples_to_bar(sample: float, first_downbeat: float, bar_samples: float) -> float:
    """1-based bar number of a sample position (bar 1 starts at the first downbeat)."""
    return 1.0 + (sample - first_downbeat) / bar_samples
