"""Step 2 of LOOP_SPEC.md: candidate loops a whole number of bars long, ranked by how well they join.

For every lag of k beats (k a multiple of three or four, so a whole number of bars in 3/4 or 4/4), each beat
is compared with the beat k later; a start's similarity is the mean over the bar before and the bar after
it, so the music must match on both sides of the jump. Ranking adds a small preference for longer loops
and for starts that look like bar lines (a strong attack and a change of harmony).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.ndimage import uniform_filter1d

from diffrhythm_ui.loops.analysis import METERS, TrackAnalysis

NEIGHBOURHOOD_BEATS = 4  # beats compared on each side of the jump
LOUDNESS_TOLERANCE_DB = 1.5
LOUDNESS_PENALTY = 0.05  # score lost per dB of loudness mismatch beyond the tolerance
LENGTH_BONUS = 0.01  # score per doubling of the loop length
BAR_LINE_BONUS = 0.02  # score per unit of (normalised) bar-line evidence at the start
MAX_LOOP_BEATS = 256


@dataclass(frozen=True)
class LoopCandidate:
    start_beat: int  # index into analysis.beats
    length_beats: int
    beats_per_bar: int
    similarity: float  # mean cosine similarity of the two neighbourhoods, 1.0 = identical
    loudness_diff_db: float
    score: float

    @property
    def end_beat(self) -> int:
        return self.start_beat + self.length_beats

    @property
    def bars(self) -> int:
        return self.length_beats // self.beats_per_bar


def _lags(n_features: int, max_beats: int) -> list[int]:
    top = min(MAX_LOOP_BEATS, max_beats, n_features - 1)
    return [k for k in range(min(METERS), top + 1) if any(k % m == 0 for m in METERS)]


def _meter_for(analysis: TrackAnalysis, length_beats: int) -> int:
    fitting = [m for m in METERS if length_beats % m == 0]
    return max(fitting, key=lambda m: analysis.meter_scores[m])


def _best_for_lag(analysis: TrackAnalysis, lag: int, evidence_bonus: np.ndarray) -> LoopCandidate | None:
    features, loudness = analysis.features, analysis.loudness_db
    n = len(features) - lag
    if n <= 0:
        return None
    window = 2 * NEIGHBOURHOOD_BEATS
    similar = np.sum(features[:n] * features[lag:], axis=1)
    loud = np.abs(loudness[:n] - loudness[lag:])
    # A start at beat i compares beats i-4 .. i+3 with the same beats one loop later.
    mean_similar = uniform_filter1d(similar, window, mode="nearest", origin=-1)
    mean_loud = uniform_filter1d(loud, window, mode="nearest", origin=-1)
    penalty = LOUDNESS_PENALTY * np.maximum(0.0, mean_loud - LOUDNESS_TOLERANCE_DB)
    score = mean_similar - penalty + evidence_bonus[:n] + LENGTH_BONUS * math.log2(lag)
    first = min(NEIGHBOURHOOD_BEATS, n - 1)
    start = first + int(np.argmax(score[first:]))
    return LoopCandidate(
        start_beat=start,
        length_beats=lag,
        beats_per_bar=_meter_for(analysis, lag),
        similarity=float(mean_similar[start]),
        loudness_diff_db=float(mean_loud[start]),
        score=float(score[start]),
    )


def rank_candidates(analysis: TrackAnalysis, max_samples: int | None = None, top: int = 5) -> list[LoopCandidate]:
    """The best candidate per loop length, best first. ``max_samples`` caps the loop body's length."""
    max_beats = MAX_LOOP_BEATS if max_samples is None else int(max_samples // analysis.beat_samples)
    evidence = analysis.evidence
    evidence_bonus = BAR_LINE_BONUS * (evidence - evidence.mean()) / (evidence.std() + 1e-9)
    found = [_best_for_lag(analysis, lag, evidence_bonus) for lag in _lags(len(analysis.features), max_beats)]
    ranked = sorted((c for c in found if c is not None), key=lambda c: c.score, reverse=True)
    return ranked[:top]
