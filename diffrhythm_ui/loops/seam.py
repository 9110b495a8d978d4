"""Step 3 of LOOP_SPEC.md: sample-accurate loop points and the crossfade that hides the jump.

The loop length found on the beat grid is refined by normalised cross-correlation of the waveform around
the start against the waveform around the end (within +-25 ms). The jump itself is placed a little before
the downbeat, so the crossfade sits in the decay of the previous bar and the new bar's attack comes through
untouched. The crossfade keeps the summed power constant for the measured correlation rho of the two sides:
g_in^2 + g_out^2 + 2 rho g_in g_out = 1, which is equal-gain for identical audio (rho = 1) and equal-power for
unrelated audio (rho = 0).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import signal

SEARCH_S = 0.025
MATCH_WINDOW_S = 0.15
MIN_TRUSTED_CORRELATION = 0.3  # below this the correlation peak is noise; keep the bar-grid length
PRE_ROLL_S = 0.012  # gap between the end of the crossfade and the downbeat: keeps the attack out of the seam


@dataclass(frozen=True)
class Seam:
    loop_start: int  # downbeat where the loop body begins (source samples)
    loop_end: int  # loop_start + body length
    jump_to: int  # source sample at the crossfade's centre on the incoming side
    crossfade: np.ndarray  # (channels, n) the audio that replaces the jump
    correlation: float  # waveform correlation of the two sides across the crossfade
    match: float  # best normalised cross-correlation found while refining the length

    @property
    def length(self) -> int:
        return self.loop_end - self.loop_start

    @property
    def half(self) -> int:
        return self.crossfade.shape[1] // 2

    @property
    def jump_from(self) -> int:
        return self.jump_to + self.length


def refine_length(mono: np.ndarray, start: int, length: int, sr: int) -> tuple[int, float]:
    """Loop length with the best waveform match within +-25 ms, and that match's normalised correlation."""
    radius, half = int(SEARCH_S * sr), int(MATCH_WINDOW_S * sr / 2)
    lo = max(0, start - half)
    hi = min(start + half, mono.size - length - radius)
    if hi - lo < half or lo + length - radius < 0:
        return length, 0.0
    reference = mono[lo:hi].astype(np.float64)
    search = mono[lo + length - radius : hi + length + radius].astype(np.float64)
    products = signal.correlate(search, reference, mode="valid", method="fft")
    energy = np.concatenate([[0.0], np.cumsum(search**2)])
    window = energy[reference.size :] - energy[: -reference.size]
    ncc = products / np.sqrt(np.maximum(window * np.dot(reference, reference), 1e-20))
    best = int(np.argmax(ncc))
    if ncc[best] < MIN_TRUSTED_CORRELATION:
        return length, float(ncc[best])
    return length + best - radius, float(ncc[best])


def crossfade_gains(n: int, correlation: float) -> tuple[np.ndarray, np.ndarray]:
    """(fade_out, fade_in) curves of n samples keeping power constant for the given correlation."""
    rho = float(np.clip(correlation, 0.0, 1.0))
    rise = 0.5 - 0.5 * np.cos(np.pi * (np.arange(n) + 0.5) / n)
    fall = 1.0 - rise
    norm = np.sqrt(rise**2 + fall**2 + 2 * rho * rise * fall)
    return fall / norm, rise / norm


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.ravel().astype(np.float64), b.ravel().astype(np.float64)
    denominator = np.sqrt(np.dot(a, a) * np.dot(b, b))
    return float(np.dot(a, b) / denominator) if denominator > 0 else 0.0


def build_seam(audio: np.ndarray, loop_start: int, length: int, match: float, sr: int) -> Seam:
    """The crossfade for a jump from loop_start + length back to loop_start (both source samples).

    Its length follows the correlation: 10 ms when the two sides are alike, up to 30 ms when they are not.
    """
    pre_roll = int(PRE_ROLL_S * sr)
    probe = int(0.02 * sr)
    centre_to, centre_from = loop_start - pre_roll - probe // 2, loop_start + length - pre_roll - probe // 2
    rho = _correlation(audio[:, centre_to - probe // 2 : centre_to + probe // 2],
                       audio[:, centre_from - probe // 2 : centre_from + probe // 2])  # fmt: skip
    n = 2 * int((0.010 + 0.020 * (1.0 - max(rho, 0.0))) * sr / 2)
    fade_out, fade_in = crossfade_gains(n, rho)
    jump_to = loop_start - n // 2 - pre_roll
    incoming = audio[:, jump_to - n // 2 : jump_to + n // 2]
    outgoing = audio[:, jump_to + length - n // 2 : jump_to + length + n // 2]
    block = (outgoing * fade_out + incoming * fade_in).astype(np.float32)
    return Seam(loop_start, loop_start + length, jump_to, block, rho, match)
