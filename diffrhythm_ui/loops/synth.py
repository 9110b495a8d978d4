"""Synthetic songs with known loop points, for the tests and the benchmark (LOOP_SPEC.md "Test material").

A track is an intro, an N-bar cycle (drums, bass, chords, an arpeggio) played ``repeats`` times, and an outro.
Every note is shorter than a beat except the chord pads, which end on their bar line, so nothing from the
intro rings into the first cycle: with ``varied=False`` the cycles are sample-for-sample identical, and any
span of whole cycles that starts on one of their bar lines is a perfect loop. ``varied=True`` jitters
velocities and changes one melody note per repeat; ``repeating=False`` draws every bar afresh (no loop).
The cycle length is a whole number of samples; bar lines inside it are rounded to the nearest sample.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

MAJOR_SCALE = (0, 2, 4, 5, 7, 9, 11)
PROGRESSIONS = {1: (0,), 2: (0, 4), 3: (0, 3, 4), 4: (0, 5, 3, 4), 8: (0, 5, 3, 4, 0, 2, 3, 4)}
ARPEGGIOS = ((0, 1, 2, 1), (0, 2, 1, 2), (2, 1, 0, 1), (0, 1, 2, 3))


@dataclass(frozen=True)
class SynthTrack:
    audio: np.ndarray  # (2, n) float32
    sr: int
    bpm: float
    beats_per_bar: int
    cycle_bars: int
    repeats: int
    cycle_start: int  # sample of the first cycle's downbeat
    cycle_samples: int
    repeating: bool
    varied: bool

    @property
    def bar_samples(self) -> float:
        return self.cycle_samples / self.cycle_bars

    @property
    def repeat_end(self) -> int:
        return self.cycle_start + self.repeats * self.cycle_samples

    def bar_line(self, index: int) -> int:
        """Sample of the index-th bar line counted from the first cycle's downbeat."""
        cycle, bar = divmod(index, self.cycle_bars)
        return self.cycle_start + cycle * self.cycle_samples + round(bar * self.cycle_samples / self.cycle_bars)

    def loop_error(self, start: int, end: int) -> float:
        """Samples between (start, end) and the nearest true loop: start on a bar line of the repeated part,
        length a whole number of cycles, all inside the repeated part (else infinity)."""
        if not self.repeating:
            return math.inf
        cycles = max(1, round((end - start) / self.cycle_samples))
        length_error = abs(end - start - cycles * self.cycle_samples)
        start_error = abs(start - self.bar_line(round((start - self.cycle_start) / self.bar_samples)))
        inside = start >= self.cycle_start - 2 and end <= self.repeat_end + 2
        return float(max(length_error, start_error)) if inside else math.inf


def _midi_hz(note: float) -> float:
    return 440.0 * 2 ** ((note - 69) / 12)


def _tone(freq: float, length: int, sr: int, harmonics: tuple[float, ...], decay: float) -> np.ndarray:
    t = np.arange(length) / sr
    wave = sum(a * np.sin(2 * np.pi * freq * (k + 1) * t) for k, a in enumerate(harmonics))
    attack = np.minimum(1.0, t / 0.004)
    release = np.minimum(1.0, (length - np.arange(length)) / (0.01 * sr))
    return wave * attack * release * np.exp(-t * decay)


def _kick(sr: int) -> np.ndarray:
    t = np.arange(int(0.25 * sr)) / sr
    phase = 2 * np.pi * np.cumsum(50 + 110 * np.exp(-t * 35)) / sr
    return np.cos(phase) * np.exp(-t * 14) * np.minimum(1.0, (t[-1] - t) / 0.01)


def _noise_hit(rng: np.random.Generator, seconds: float, decay: float, sr: int, bright: bool) -> np.ndarray:
    noise = rng.standard_normal(int(seconds * sr))
    if bright:
        noise = np.diff(noise, prepend=0.0)
    t = np.arange(noise.size) / sr
    return noise * np.exp(-t * decay) * np.minimum(1.0, (t[-1] - t) / 0.005)


class _Mixer:
    def __init__(self, length: int) -> None:
        self.out = np.zeros((2, length))

    def add(self, at: int, sound: np.ndarray, gain: float, pan: float = 0.0) -> None:
        end = min(self.out.shape[1], at + sound.size)
        if end > at:
            left, right = math.cos((pan + 1) * math.pi / 4), math.sin((pan + 1) * math.pi / 4)
            self.out[0, at:end] += gain * left * sound[: end - at]
            self.out[1, at:end] += gain * right * sound[: end - at]


def _triad(root: int, degree: int, extra: int = 0) -> list[int]:
    notes = []
    for step in (0, 2, 4, 6)[: 3 + extra]:
        index = degree + step
        notes.append(root + MAJOR_SCALE[index % 7] + 12 * (index // 7))
    return notes


def make_track(
    bpm: float = 120.0,
    beats_per_bar: int = 4,
    cycle_bars: int = 4,
    repeats: int = 3,
    key: int = 57,
    *,
    intro_bars: int = 2,
    outro_bars: int = 2,
    varied: bool = False,
    repeating: bool = True,
    sr: int = 44100,
    seed: int = 0,
) -> SynthTrack:
    """Render a synthetic song; ``key`` is the MIDI note of the tonic (57 = A3)."""
    rng = np.random.default_rng(seed)
    beat = 60.0 / bpm * sr
    cycle = round(cycle_bars * beats_per_bar * beat)
    start = round(intro_bars * beats_per_bar * beat)
    total = start + repeats * cycle + round(outro_bars * beats_per_bar * beat)
    mix = _Mixer(total)
    progression = PROGRESSIONS.get(cycle_bars) or tuple(rng.integers(0, 6, cycle_bars))
    eighth = int(beat / 2)
    hat_sound = _noise_hit(np.random.default_rng(seed + 1), 0.04, 90, sr, bright=True)
    snare_sound = _noise_hit(np.random.default_rng(seed + 2), 0.15, 28, sr, bright=False)

    def bar_at(bar_start: int, bar_len: int, degree: int, pattern: tuple[int, ...], velocity) -> None:
        chord = _triad(key, degree)
        pad = sum(_tone(_midi_hz(n), bar_len, sr, (1.0, 0.4, 0.2), 0.6) for n in chord)
        mix.add(bar_start, pad, 0.05 * velocity(), pan=-0.2)
        for b in range(beats_per_bar):
            at = bar_start + round(b * bar_len / beats_per_bar)
            if b == 0 or (beats_per_bar == 4 and b == 2):
                mix.add(at, _kick(sr), 0.55 * velocity())
            if b % 2 == 1 or (beats_per_bar == 3 and b == 2):
                mix.add(at, snare_sound, 0.18 * velocity(), pan=0.1)
            bass = _tone(_midi_hz(chord[0] - 24), int(beat * 0.85), sr, (1.0, 0.5), 3.0)
            mix.add(at, bass, 0.22 * velocity())
            for half in range(2):
                at8 = at + half * eighth
                mix.add(at8, hat_sound, 0.06 * velocity(), pan=0.5)
                arp = _triad(key + 12, degree, extra=1)[pattern[(2 * b + half) % len(pattern)]]
                mix.add(at8, _tone(_midi_hz(arp), int(eighth * 0.8), sr, (1.0, 0.11, 0.04), 6.0), 0.07, pan=-0.4)

    for i in range(intro_bars):
        at = round(i * beats_per_bar * beat)
        pad = sum(_tone(_midi_hz(n), round(beats_per_bar * beat), sr, (1.0, 0.3), 0.3) for n in _triad(key, 0))
        mix.add(at, pad, 0.06, pan=0.0)
        for e in range(2 * beats_per_bar):
            mix.add(at + e * eighth, hat_sound, 0.05, pan=0.5)
    steady = lambda: 1.0  # noqa: E731 - velocity of an exact repeat
    for r in range(repeats):
        jitter = (lambda: float(rng.uniform(0.85, 1.15))) if varied else steady
        changed_bar = int(rng.integers(cycle_bars)) if varied else -1
        for bar in range(cycle_bars):
            bar_start = start + r * cycle + round(bar * cycle / cycle_bars)
            bar_len = start + r * cycle + round((bar + 1) * cycle / cycle_bars) - bar_start
            if repeating:
                degree, pattern = progression[bar], ARPEGGIOS[bar % len(ARPEGGIOS)]
                if bar == changed_bar:
                    pattern = tuple(rng.permutation(pattern))
            else:
                degree, pattern = int(rng.integers(0, 6)), tuple(rng.integers(0, 4, 8))
                jitter = lambda: float(rng.uniform(0.5, 1.5))  # noqa: E731 - a different groove every bar
            bar_at(bar_start, bar_len, degree, pattern, jitter)
    outro = start + repeats * cycle
    tail = total - outro
    mix.add(outro, _kick(sr), 0.5)
    mix.add(outro, sum(_tone(_midi_hz(n), tail, sr, (1.0, 0.3), 1.5) for n in _triad(key, 0)), 0.08)
    audio = (mix.out * (0.95 / np.max(np.abs(mix.out)))).astype(np.float32)
    return SynthTrack(audio, sr, bpm, beats_per_bar, cycle_bars, repeats, start, cycle, repeating, varied)
