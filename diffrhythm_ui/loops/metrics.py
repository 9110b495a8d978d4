"""The seam metrics of LOOP_SPEC.md, over any rendered audio and its seam positions.

Each metric compares the audio at a seam with the same audio's own ordinary moments, so a loud or busy
track is not penalised for being loud or busy. The tests and benchmarks/loop_bench.py both call
``seam_metrics`` (ours and PyMusicLooper's renders are measured by the same code).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np
from scipy import signal

from diffrhythm_ui.audio.levels import k_weighted, loudness_lufs
from diffrhythm_ui.loops import dsp

THRESHOLDS = {
    "jump_ratio": 1.5,  # <=
    "click_db": 3.0,  # <=
    "flux_ratio": 1.3,  # <=
    "beat_phase_ms": 10.0,  # <=
    "chroma_ratio": 0.97,  # >=
    "loudness_step_lu": 1.5,  # <=
}
AT_LEAST = {"chroma_ratio"}
EXCLUDE_S = 0.05  # "elsewhere" leaves out this much on each side of every seam
ONSET_SR, ONSET_HOP = 22050, 128


@dataclass(frozen=True)
class SeamMetrics:
    """Worst value over all seams of each metric (NaN where no seam could be measured)."""

    seams: int
    jump_ratio: float
    click_db: float
    flux_ratio: float
    beat_phase_ms: float
    chroma_ratio: float
    loudness_step_lu: float
    passed: dict[str, bool] = field(default_factory=dict)

    @property
    def all_passed(self) -> bool:
        return all(self.passed.values())

    def to_dict(self) -> dict[str, object]:
        values = asdict(self)
        return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in values.items()}


def _elsewhere(n_windows: int, window: int, seams: np.ndarray, sr: int) -> np.ndarray:
    """Mask of windows that lie away from every seam."""
    centres = (np.arange(n_windows) + 0.5) * window
    if seams.size == 0:
        return np.ones(n_windows, dtype=bool)
    distance = np.min(np.abs(centres[:, None] - seams[None, :]), axis=1)
    return distance > EXCLUDE_S * sr


def _window_energy(x: np.ndarray, centre: int, width: int) -> float:
    lo, hi = max(0, centre - width // 2), min(x.size, centre + width - width // 2)
    return float(np.mean(x[lo:hi] ** 2)) if hi > lo else math.nan


def _tiled_energy(x: np.ndarray, width: int) -> np.ndarray:
    n = x.size // width
    return np.mean(x[: n * width].reshape(n, width) ** 2, axis=1)


def _natural_pass(seam: float, seam_times: np.ndarray, loop_s: float | None, bar_s: float) -> float | None:
    """Where the audio passes the loop start without a seam: whole loops before ``seam`` (None if unknown)."""
    if not loop_s:
        return None
    earlier = seam - loop_s
    while earlier > 0 and np.min(np.abs(seam_times - earlier)) < bar_s / 2:
        earlier -= loop_s  # step back over other seams
    return earlier if earlier > 0 else None


def jump_ratios(mono: np.ndarray, seams: np.ndarray, sr: int) -> np.ndarray:
    """RMS of the sample-to-sample step over 1 ms at each seam / median of the same over all other 1 ms."""
    step = np.diff(mono, prepend=mono[:1])
    width = max(1, sr // 1000)
    tiles = _tiled_energy(step, width)
    reference = np.sqrt(np.median(tiles[_elsewhere(tiles.size, width, seams, sr)]))
    return np.array([math.sqrt(_window_energy(step, s, width)) / max(reference, 1e-12) for s in seams])


def click_db(mono: np.ndarray, seams: np.ndarray, sr: int) -> np.ndarray:
    """4-20 kHz energy in 10 ms around each seam over the median of 10 ms windows elsewhere, in dB."""
    band = signal.butter(4, [4000, min(20000, 0.45 * sr)], btype="bandpass", fs=sr, output="sos")
    high = signal.sosfilt(band, mono).astype(np.float32)
    width = sr // 100
    tiles = _tiled_energy(high, width)
    reference = max(float(np.median(tiles[_elsewhere(tiles.size, width, seams, sr)])), 1e-20)
    return np.array([10 * math.log10(max(_window_energy(high, s, width), 1e-20) / reference) for s in seams])


def flux_ratios(mono: np.ndarray, seams: np.ndarray, sr: int) -> np.ndarray:
    """Spectral flux of the frame centred on each seam / 95th percentile of the flux of all other frames."""
    n_fft, hop = 1024, 256
    flux = dsp.spectral_flux(mono, n_fft, hop)
    frames = np.round(seams / hop).astype(int)
    elsewhere = _elsewhere(flux.size, hop, seams - hop // 2, sr)
    reference = max(float(np.percentile(flux[elsewhere], 95)), 1e-12)
    return np.array([flux[min(f, flux.size - 1)] / reference for f in frames])


def _other_bars(seam: float, seam_times: np.ndarray, duration: float, bar_s: float) -> list[float]:
    """The same place in every other bar of the audio, away from all seams."""
    shifts = np.arange(-int(duration // bar_s), int(duration // bar_s) + 1) * bar_s
    return [seam + s for s in shifts if s != 0 and np.min(np.abs(seam_times - seam - s)) > bar_s / 2]


def beat_phase_ms(mono: np.ndarray, seams: np.ndarray, sr: int, beat_s: float, bar_s: float) -> np.ndarray:
    """How far each seam shifts the onset grid, in ms.

    The onset envelope of the bar after the seam is matched against the bar before it, shifted by up to half
    a beat either way; on the tempo grid the best match is at no shift, and a seam that drops or adds time
    moves it by the time lost or gained.
    """
    y = dsp.resample(mono, sr, ONSET_SR)
    power = dsp.stft_magnitude(y, 1024, ONSET_HOP) ** 2
    envelope = dsp.onset_strength(dsp.power_to_db(dsp.mel_filters(ONSET_SR, 1024, n_mels=64) @ power))
    frame_s = ONSET_HOP / ONSET_SR
    bar, reach = int(round(bar_s / frame_s)), int(beat_s / 2 / frame_s)
    result = []
    for seam in seams / sr:
        f = int(round(seam / frame_s))
        if f - bar - reach < 0 or f + bar > envelope.size:
            result.append(math.nan)
            continue
        after = envelope[f : f + bar] - envelope[f : f + bar].mean()
        scores = []
        for d in range(-reach, reach + 1):
            before = envelope[f - bar + d : f + d]
            scores.append(float(np.dot(after, before - before.mean())))
        result.append(abs(int(np.argmax(scores)) - reach) * frame_s * 1000)
    return np.array(result)


def chroma_ratios(
    mono: np.ndarray, seams: np.ndarray, sr: int, beat_s: float, bar_s: float, loop_s: float | None
) -> np.ndarray:
    """Cosine of the chroma of 2 beats before vs 2 beats after each seam, over the same cosine where the music
    passes the loop start without a seam (whole loops earlier, when the loop length is known), else over the
    median at the same place in the other bars."""
    hop = 512
    chroma = dsp.chroma_of_signal(mono, sr, 4096, hop)
    span = max(1, int(round(2 * beat_s * sr / hop)))

    def continuity(t: float) -> float:
        f = int(round(t * sr / hop))
        if f - span < 0 or f + span > chroma.shape[1]:
            return math.nan
        a, b = chroma[:, f - span : f].mean(axis=1), chroma[:, f : f + span].mean(axis=1)
        return float(np.dot(a, b) / max(np.linalg.norm(a) * np.linalg.norm(b), 1e-12))

    seam_times, result = seams / sr, []
    for seam in seam_times:
        earlier = _natural_pass(seam, seam_times, loop_s, bar_s)
        natural = continuity(earlier) if earlier is not None else math.nan
        if math.isnan(natural):
            others = [continuity(t) for t in _other_bars(seam, seam_times, mono.size / sr, bar_s)]
            others = [o for o in others if not math.isnan(o)]
            natural = float(np.median(others)) if others else math.nan
        result.append(continuity(seam) / natural if natural > 0 else math.nan)
    return np.array(result)


def loudness_steps(
    audio: np.ndarray, seams: np.ndarray, sr: int, bar_s: float, loop_s: float | None = None
) -> np.ndarray:
    """Short-term (400 ms) loudness change across each seam, in LU, minus the change where the music passes
    the loop start by itself (whole loops earlier, when the loop length is known), else minus the median
    change at the same place in the other bars: music gets louder on a downbeat by itself."""
    weighted = k_weighted(audio, sr).astype(np.float32)
    width = int(0.4 * sr)

    def change(s: int) -> float:
        if s - width < 0 or s + width > audio.shape[1]:
            return math.nan
        return loudness_lufs(weighted[:, s : s + width]) - loudness_lufs(weighted[:, s - width : s])

    seam_times, result = seams / sr, []
    for s in seams:
        earlier = _natural_pass(s / sr, seam_times, loop_s, bar_s)
        usual = [change(round(earlier * sr))] if earlier is not None else []
        if not usual or math.isnan(usual[0]):
            usual = [change(round(t * sr)) for t in _other_bars(s / sr, seam_times, audio.shape[1] / sr, bar_s)]
        usual = [c for c in usual if not math.isnan(c)]
        result.append(abs(change(int(s)) - (float(np.median(usual)) if usual else 0.0)))
    return np.array(result)


def _worst(values: np.ndarray, at_least: bool) -> float:
    values = values[~np.isnan(values)]
    if values.size == 0:
        return math.nan
    return float(values.min() if at_least else values.max())


def seam_metrics(
    audio: np.ndarray,
    sr: int,
    seams: list[int] | np.ndarray,
    beat_s: float,
    bar_s: float,
    loop_s: float | None = None,
) -> SeamMetrics:
    """All seam metrics of a (channels, n) render whose seams sit at the given output samples.

    ``beat_s`` and ``bar_s`` are the music's beat and bar lengths (the tempo grid the seams must keep);
    ``loop_s``, the loop body's length, lets the chroma and loudness checks compare with the music's own pass
    through the loop start.
    """
    seams = np.asarray(seams, dtype=np.int64)
    mono = audio.mean(axis=0)
    values = {
        "jump_ratio": _worst(jump_ratios(mono, seams, sr), False),
        "click_db": _worst(click_db(mono, seams, sr), False),
        "flux_ratio": _worst(flux_ratios(mono, seams, sr), False),
        "beat_phase_ms": _worst(beat_phase_ms(mono, seams, sr, beat_s, bar_s), False),
        "chroma_ratio": _worst(chroma_ratios(mono, seams, sr, beat_s, bar_s, loop_s), True),
        "loudness_step_lu": _worst(loudness_steps(audio, seams, sr, bar_s, loop_s), False),
    }
    passed = {
        name: (math.isnan(value) or (value >= THRESHOLDS[name] if name in AT_LEAST else value <= THRESHOLDS[name]))
        for name, value in values.items()
    }
    return SeamMetrics(seams=int(seams.size), passed=passed, **values)


def loop_length_error(length: int, bar_samples: float) -> float:
    """Samples between a loop body and the nearest whole number of bars."""
    bars = max(1, round(length / bar_samples))
    return abs(length - bars * bar_samples)
