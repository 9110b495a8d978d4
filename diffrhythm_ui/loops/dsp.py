"""The spectral building blocks of the analysis and the metrics, on numpy and scipy alone.

librosa would do all of this, but its first STFT imports numba and costs about 1.5 s and 140 MB in every new
process: more than the whole analysis of a song. These few functions cover what the loop engine needs:
an STFT magnitude, mel and chroma filter banks, MFCCs, an onset envelope and a steady-tempo beat grid.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
from scipy import fft, signal

CHUNK_FRAMES = 256  # frames transformed at once, to bound the temporary complex spectrum


def resample(y: np.ndarray, sr: int, target: int) -> np.ndarray:
    if sr == target:
        return y.astype(np.float32, copy=False)
    g = math.gcd(sr, target)
    return signal.resample_poly(y, target // g, sr // g).astype(np.float32)


def _frames(y: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    """(n_frames, n_fft) view of y padded by n_fft // 2 on each side, frames centred on t * hop."""
    padded = np.pad(y.astype(np.float32), n_fft // 2, mode="reflect" if y.size > n_fft // 2 else "constant")
    n_frames = 1 + (padded.size - n_fft) // hop
    step = padded.strides[0]
    return np.lib.stride_tricks.as_strided(padded, shape=(n_frames, n_fft), strides=(step * hop, step))


def stft_chunks(y: np.ndarray, n_fft: int, hop: int) -> Iterator[np.ndarray]:
    """|STFT| with a Hann window, as (n_fft // 2 + 1, <= CHUNK_FRAMES) float32 chunks in time order."""
    frames = _frames(y, n_fft, hop)
    window = signal.get_window("hann", n_fft).astype(np.float32)
    for lo in range(0, frames.shape[0], CHUNK_FRAMES):
        yield np.abs(fft.rfft(frames[lo : lo + CHUNK_FRAMES] * window, axis=1)).T


def stft_magnitude(y: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    """|STFT| (n_fft // 2 + 1, n_frames) float32 with a Hann window, frames centred on t * hop."""
    return np.concatenate(list(stft_chunks(y, n_fft, hop)), axis=1)


def chroma_of_signal(y: np.ndarray, sr: int, n_fft: int, hop: int) -> np.ndarray:
    """Chroma (12, n_frames) computed chunk by chunk, never holding the whole spectrogram."""
    filters = chroma_filters(sr, n_fft)
    classes = np.concatenate([filters @ chunk**2 for chunk in stft_chunks(y, n_fft, hop)], axis=1)
    return classes / np.maximum(classes.max(axis=0, keepdims=True), 1e-10)


def spectral_flux(y: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    """Sum of positive frame-to-frame rises of the log-compressed magnitude (frame 0 is 0), chunk by chunk."""
    flux, previous = [], None
    for chunk in stft_chunks(y, n_fft, hop):
        compressed = np.log1p(100 * chunk)
        joined = compressed if previous is None else np.concatenate([previous, compressed], axis=1)
        rises = np.maximum(0.0, np.diff(joined, axis=1)).sum(axis=0)
        flux.append(rises if previous is not None else np.concatenate([[0.0], rises]))
        previous = compressed[:, -1:]
    return np.concatenate(flux)


def _hz_to_mel(f: np.ndarray | float) -> np.ndarray:
    return 2595.0 * np.log10(1.0 + np.asarray(f) / 700.0)


def _mel_to_hz(m: np.ndarray) -> np.ndarray:
    return 700.0 * (10 ** (m / 2595.0) - 1.0)


def mel_filters(sr: int, n_fft: int, n_mels: int = 96) -> np.ndarray:
    """(n_mels, n_bins) triangular filters evenly spaced in mel, each of unit area."""
    bins = np.linspace(0, sr / 2, n_fft // 2 + 1)
    edges = _mel_to_hz(np.linspace(0.0, float(_hz_to_mel(sr / 2)), n_mels + 2))
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rise = (bins[None, :] - lower) / (centre - lower)
    fall = (upper - bins[None, :]) / (upper - centre)
    return (np.maximum(0.0, np.minimum(rise, fall)) * (2.0 / (upper - lower))).astype(np.float32)


def chroma_filters(sr: int, n_fft: int, low_hz: float = 55.0, high_hz: float = 4000.0) -> np.ndarray:
    """(12, n_bins) weights from FFT bins to pitch classes (C = 0), Gaussian over a third of a semitone."""
    bins = np.linspace(0, sr / 2, n_fft // 2 + 1)
    usable = (bins >= low_hz) & (bins <= high_hz)
    pitch = np.zeros_like(bins)
    pitch[usable] = 12 * np.log2(bins[usable] / 440.0) + 9  # semitones above C
    distance = (pitch[None, :] - np.arange(12)[:, None] + 6) % 12 - 6
    weights = np.exp(-0.5 * (distance / 0.33) ** 2) * usable[None, :]
    return (weights / np.maximum(weights.sum(axis=0, keepdims=True), 1e-9) * usable[None, :]).astype(np.float32)


def chroma(power: np.ndarray, sr: int, n_fft: int) -> np.ndarray:
    """(12, n_frames) chroma, each frame scaled so its largest class is 1."""
    classes = chroma_filters(sr, n_fft) @ power
    return classes / np.maximum(classes.max(axis=0, keepdims=True), 1e-10)


def power_to_db(power: np.ndarray, top_db: float = 80.0) -> np.ndarray:
    db = 10.0 * np.log10(np.maximum(power, 1e-10))
    return np.maximum(db, db.max() - top_db)


def mfcc(log_mel: np.ndarray, n: int) -> np.ndarray:
    return fft.dct(log_mel, type=2, norm="ortho", axis=0)[:n]


def onset_strength(log_mel: np.ndarray) -> np.ndarray:
    """Mean positive change of the log-mel spectrum from one frame to the next (frame 0 is 0)."""
    rise = np.maximum(0.0, np.diff(log_mel, axis=1)).mean(axis=0)
    return np.concatenate([[0.0], rise]).astype(np.float32)


def _comb(onset: np.ndarray, period: float, phases: np.ndarray) -> np.ndarray:
    """Mean onset strength on the grids phase + k * period, for every phase (linear interpolation)."""
    ticks = phases[:, None] + period * np.arange(int((onset.size - 1 - phases.max()) // period) + 1)[None, :]
    return np.interp(ticks, np.arange(onset.size), onset).mean(axis=1)


def beat_grid(onset: np.ndarray, frame_rate: float, low_bpm: float = 60.0, high_bpm: float = 200.0) -> np.ndarray:
    """Beat positions in frames on a steady grid: the tempo from the autocorrelation of the onset envelope
    (weighted towards 120 BPM, a log-normal prior one octave wide), then period and phase by a comb search."""
    centred = onset - onset.mean()
    correlation = signal.correlate(centred, centred, mode="full", method="fft")[centred.size - 1 :]
    lags = np.arange(max(1, int(frame_rate * 60 / high_bpm)), int(frame_rate * 60 / low_bpm) + 1)
    lags = lags[lags < centred.size]
    bpm = 60 * frame_rate / lags
    prior = np.exp(-0.5 * np.log2(bpm / 120.0) ** 2)
    lag = float(lags[int(np.argmax(correlation[lags] * prior))])
    best_score, best = -math.inf, (lag, 0.0)
    for period in np.arange(lag - 1.0, lag + 1.0, 0.01):
        phases = np.arange(0.0, period, 0.5)
        scores = _comb(onset, period, phases)
        if scores.max() > best_score:
            best_score, best = float(scores.max()), (float(period), float(phases[int(np.argmax(scores))]))
    period, phase = best
    return phase + period * np.arange(int((onset.size - 1 - phase) // period) + 1)
