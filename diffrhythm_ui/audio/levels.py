"""Level measurements: true peak (ITU-R BS.1770 style, 4x oversampling) and short-term loudness.

The loudness here is a K-weighted mean square in LUFS. It is only ever compared with itself (the loudness
step across a seam), so the filter follows BS.1770's shape without claiming meter-grade calibration.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import signal

OVERSAMPLE = 4
_SILENCE_DB = -200.0


def to_db(amplitude: float) -> float:
    return 20.0 * math.log10(amplitude) if amplitude > 0 else _SILENCE_DB


def true_peak(audio: np.ndarray) -> float:
    """Largest absolute value of the signal oversampled 4x, as a linear amplitude. audio: (channels, n)."""
    if audio.shape[-1] == 0:
        return 0.0
    upsampled = signal.resample_poly(audio, OVERSAMPLE, 1, axis=-1)
    return float(max(np.max(np.abs(upsampled)), np.max(np.abs(audio))))


def true_peak_db(audio: np.ndarray) -> float:
    return to_db(true_peak(audio))


def _k_weighting(sr: int) -> np.ndarray:
    """Second-order sections of the K filter (a +4 dB high shelf near 1.7 kHz, then a 38 Hz high-pass)."""
    gain_db, shelf_hz, shelf_q = 4.0, 1681.97, 0.7072
    a = 10 ** (gain_db / 40)
    w0 = 2 * math.pi * shelf_hz / sr
    alpha = math.sin(w0) / (2 * shelf_q)
    cos_w0, root = math.cos(w0), 2 * math.sqrt(a) * alpha
    shelf_b = [
        a * ((a + 1) + (a - 1) * cos_w0 + root),
        -2 * a * ((a - 1) + (a + 1) * cos_w0),
        a * ((a + 1) + (a - 1) * cos_w0 - root),
    ]
    shelf_a = [(a + 1) - (a - 1) * cos_w0 + root, 2 * ((a - 1) - (a + 1) * cos_w0), (a + 1) - (a - 1) * cos_w0 - root]
    shelf = signal.tf2sos(np.array(shelf_b) / shelf_a[0], np.array(shelf_a) / shelf_a[0])
    highpass = signal.butter(2, 38.13, btype="highpass", fs=sr, output="sos")
    return np.vstack([shelf, highpass])


def k_weighted(audio: np.ndarray, sr: int) -> np.ndarray:
    """The K-weighted signal, same shape as audio (channels, n)."""
    return signal.sosfilt(_k_weighting(sr), audio, axis=-1)


def loudness_lufs(weighted: np.ndarray) -> float:
    """Loudness of an already K-weighted excerpt (channels, n): channel mean squares summed, in LUFS."""
    power = float(np.sum(np.mean(np.square(weighted, dtype=np.float64), axis=-1)))
    return -0.691 + 10 * math.log10(power) if power > 0 else _SILENCE_DB
