"""Step 4 of LOOP_SPEC.md: lay out the output as pieces of the source and crossfades, then stream it.

The output is intro + first pass up to the jump, then the loop body again and again, and in the last pass
the music runs on into the outro (cut, with a fade, where the requested duration ends). Nothing longer than
one block is ever built: each block is a slice of the source or of the precomputed crossfade, scaled by the
gain that keeps the true peak under the ceiling and by the fade curves.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from diffrhythm_ui.audio.levels import to_db, true_peak
from diffrhythm_ui.loops.seam import Seam

BLOCK = 1 << 16
DECLICK_S = 0.005  # a ramp this long where the output starts or stops mid-music without a requested fade
TRUE_PEAK_CEILING_DB = -1.0


@dataclass(frozen=True)
class Piece:
    source: bool  # True: a slice of the source; False: a slice of the crossfade block
    start: int
    stop: int

    @property
    def length(self) -> int:
        return self.stop - self.start


@dataclass(frozen=True)
class RenderPlan:
    pieces: tuple[Piece, ...]
    seams: tuple[int, ...]  # output samples at the centre of each crossfade
    total: int
    begins_mid_music: bool
    ends_mid_music: bool


def plan_render(n_source: int, seam: Seam, total: int) -> RenderPlan:
    """Pieces whose lengths add up to exactly ``total`` output samples."""
    half = seam.half
    body_start, body_stop = seam.jump_to + half, seam.jump_from - half
    begin = 0 if total >= body_stop + 2 * half else body_start  # too short for the intro: start in the body
    pieces: list[Piece] = []
    seams: list[int] = []
    position, produced = begin, 0
    while produced < total:
        remaining = total - produced
        if (seams and n_source - position >= remaining) or remaining <= body_stop - position:
            pieces.append(Piece(True, position, position + remaining))
            produced = total
            break
        pieces.append(Piece(True, position, body_stop))
        produced += body_stop - position
        crossfade = min(2 * half, total - produced)
        pieces.append(Piece(False, 0, crossfade))
        seams.append(produced + half)
        produced += crossfade
        position = body_start
    ends_mid_music = not (pieces[-1].source and pieces[-1].stop >= n_source)
    return RenderPlan(tuple(pieces), tuple(s for s in seams if s < total), total, begin > 0, ends_mid_music)


def peak_gain(audio: np.ndarray, seam: Seam, plan: RenderPlan, ceiling_db: float = TRUE_PEAK_CEILING_DB) -> float:
    """Linear gain (at most 1) that keeps the output's true peak at or under ``ceiling_db``.

    Every output sample comes from the source range the plan uses or from the crossfade, so the larger of
    their true peaks bounds the output's. Oversampling is the costly part, so blocks are measured loudest
    first, and a block whose sample peak is more than 6 dB under the true peak found so far is skipped:
    music's inter-sample peaks stay well within that.
    """
    first = min(p.start for p in plan.pieces if p.source)
    last = max(p.stop for p in plan.pieces if p.source)
    starts = list(range(first, last, BLOCK))
    sample_peaks = [float(np.max(np.abs(audio[:, lo : min(last, lo + BLOCK)]))) for lo in starts]
    peak = true_peak(seam.crossfade)
    for index in np.argsort(sample_peaks)[::-1]:
        if sample_peaks[index] * 2 <= peak:
            break
        lo = starts[index]
        peak = max(peak, true_peak(audio[:, max(first, lo - 64) : min(last, lo + BLOCK + 64)]))
    return min(1.0, 10 ** ((ceiling_db - to_db(peak)) / 20)) if peak > 0 else 1.0


def _raised_cosine(position: np.ndarray, length: int) -> np.ndarray:
    return 0.5 - 0.5 * np.cos(np.pi * np.clip(position / max(length, 1), 0.0, 1.0))


def fade_lengths(plan: RenderPlan, sr: int, fade_in_s: float, fade_out_s: float) -> tuple[int, int]:
    """Fade lengths in samples; a short de-click ramp replaces a missing fade where the music is cut."""
    declick = int(DECLICK_S * sr)
    fade_in = round(fade_in_s * sr) or (declick if plan.begins_mid_music else 0)
    fade_out = round(fade_out_s * sr) or (declick if plan.ends_mid_music else 0)
    return min(fade_in, plan.total), min(fade_out, plan.total)


def envelope(start: int, n: int, plan: RenderPlan, fade_in: int, fade_out: int) -> np.ndarray | None:
    """Gain curve for output samples start .. start+n from the fades (None when it is 1 everywhere)."""
    if start >= fade_in and start + n <= plan.total - fade_out:
        return None
    position = np.arange(start, start + n, dtype=np.float64)
    return _raised_cosine(position + 0.5, fade_in) * _raised_cosine(plan.total - position - 0.5, fade_out)


def render_blocks(
    audio: np.ndarray, seam: Seam, plan: RenderPlan, gain: float, fade_in: int = 0, fade_out: int = 0
) -> Iterator[np.ndarray]:
    """Yield the output as float32 (channels, <= BLOCK) blocks; fade lengths from ``fade_lengths``."""
    produced = 0
    for piece in plan.pieces:
        material = audio if piece.source else seam.crossfade
        for lo in range(piece.start, piece.stop, BLOCK):
            hi = min(piece.stop, lo + BLOCK)
            block = material[:, lo:hi] * np.float32(gain)
            curve = envelope(produced, hi - lo, plan, fade_in, fade_out)
            if curve is not None:
                block = block * curve.astype(np.float32)
            produced += hi - lo
            yield block
