"""The loop job from end to end: file in, loop file and report out. The CLI and the job service call this.

``find_loop`` chooses and refines the loop on arrays; ``make_loop_file`` adds the file I/O, validation,
progress reporting and cancellation around it.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from diffrhythm_ui.audio import AudioFileWriter, format_for, read_audio, write_tags
from diffrhythm_ui.audio.levels import to_db
from diffrhythm_ui.loops.analysis import TrackAnalysis, analyze, mono
from diffrhythm_ui.loops.exceptions import InvalidDurationError, LoopCancelledError
from diffrhythm_ui.loops.metrics import loop_length_error, seam_metrics
from diffrhythm_ui.loops.render import fade_lengths, peak_gain, plan_render, render_blocks
from diffrhythm_ui.loops.seam import Seam, build_seam, refine_length
from diffrhythm_ui.loops.search import LoopCandidate, rank_candidates
from diffrhythm_ui.loops.units import samples_to_seconds, seconds_to_samples

logger = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]
CancelCheck = Callable[[], bool]
MAX_DURATION_S = 4 * 3600.0
LOW_CONFIDENCE = 0.9  # exact and varied repeats score about 0.98, music without a repeat about 0.8
PREVIEW_SEAMS = 2  # seams measured for the report; every seam is the same crossfade
PREVIEW_SIDE_S = 30.0


@dataclass(frozen=True)
class LoopChoice:
    analysis: TrackAnalysis
    candidate: LoopCandidate
    seam: Seam
    beats_per_bar: int
    phase: int  # index of a downbeat in analysis.beats
    confidence: float


@dataclass(frozen=True)
class LoopReport:
    output: str
    format: str
    sample_rate: int
    requested_duration_s: float
    duration_s: float
    loop_start_sample: int
    loop_end_sample: int
    loop_start_s: float
    loop_end_s: float
    loop_start_bar: int
    loop_end_bar: int
    loop_bars: int
    tempo_bpm: float
    beats_per_bar: int
    confidence: float
    low_confidence: bool
    message: str
    seams: list[float]  # seam times in the output file, seconds
    crossfade_ms: float
    crossfade_correlation: float
    loop_length_error_samples: float
    gain_db: float
    metrics: dict[str, object]

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def _check(cancel: CancelCheck | None) -> None:
    if cancel is not None and cancel():
        raise LoopCancelledError("the loop job was cancelled")


def validate_request(duration_s: float, fade_in_s: float, fade_out_s: float) -> None:
    for name, value in (("duration", duration_s), ("fade-in", fade_in_s), ("fade-out", fade_out_s)):
        if not isinstance(value, int | float) or not math.isfinite(value):
            raise InvalidDurationError(f"{name} must be a finite number of seconds; got {value!r}")
    if duration_s <= 0:
        raise InvalidDurationError(f"duration must be positive; got {duration_s} s")
    if duration_s > MAX_DURATION_S:
        raise InvalidDurationError(f"duration {duration_s} s is over the {MAX_DURATION_S:.0f} s limit")
    if fade_in_s < 0 or fade_out_s < 0:
        raise InvalidDurationError("fades cannot be negative")
    if fade_in_s + fade_out_s > duration_s:
        raise InvalidDurationError(f"fades ({fade_in_s} + {fade_out_s} s) are longer than the duration")


def find_loop(audio: np.ndarray, sr: int, target_samples: int | None = None) -> LoopChoice:
    """Analyse, search and refine: the best loop of a (channels, n) track.

    With a target, loop bodies up to half of it are preferred, so the output holds at least one seam.
    """
    analysis = analyze(audio, sr)
    ranked = rank_candidates(analysis, None if target_samples is None else target_samples // 2)
    if not ranked:
        ranked = rank_candidates(analysis)
    best = ranked[0]
    signal = mono(audio)
    start = int(analysis.beats[best.start_beat])
    grid_length = int(analysis.beats[best.end_beat]) - start
    length, match = refine_length(signal, start, grid_length, sr)
    seam = build_seam(audio, start, length, match, sr)
    confidence = float(np.clip(min(best.similarity, max(match, 0.0)), 0.0, 1.0))
    phase = best.start_beat % best.beats_per_bar
    return LoopChoice(analysis, best, seam, best.beats_per_bar, phase, confidence)


def _preview(audio: np.ndarray, choice: LoopChoice, total: int) -> tuple[np.ndarray, list[int]]:
    """A stretch of the output (no gain, no fades) around its first seams, for the metrics: from up to one and
    a half loops before the first seam (the music's own pass through the loop start) to one loop after the
    last, each side capped at PREVIEW_SIDE_S so the metrics' memory stays small for long loops."""
    plan = plan_render(audio.shape[1], choice.seam, total)
    if not plan.seams:
        return np.zeros((audio.shape[0], 0), dtype=np.float32), []
    body, side = choice.seam.length, round(PREVIEW_SIDE_S * choice.analysis.sr)
    first = plan.seams[0]
    start = max(0, first - min(body + body // 2, side))
    seams = [s for s in plan.seams[:PREVIEW_SEAMS] if s - first <= side]
    end = min(total, seams[-1] + min(body, side))
    blocks, produced = [], 0
    for block in render_blocks(audio, choice.seam, plan, 1.0):
        lo, hi = produced, produced + block.shape[1]
        produced = hi
        if hi > start:
            blocks.append(block[:, max(0, start - lo) : end - lo])
        if produced >= end:
            break
    return np.concatenate(blocks, axis=1), [s - start for s in seams]


def _message(confidence: float, n_seams: int) -> str:
    if confidence < LOW_CONFIDENCE:
        return (
            "low confidence: no clear repeat was found in the music; the loop is a crossfaded repeat of its most "
            "similar bars and the seam may be audible"
        )
    if n_seams == 0:
        return "the requested duration is shorter than one loop: the output holds no seam"
    return "ok"


def make_loop_file(
    input_path: str | os.PathLike[str],
    output_path: str | os.PathLike[str],
    duration_s: float,
    *,
    fade_in_s: float = 0.0,
    fade_out_s: float = 0.0,
    fmt: str | None = None,
    tags: Mapping[str, object] | None = None,
    progress: Progress | None = None,
    cancel: CancelCheck | None = None,
) -> LoopReport:
    """Render a loop of ``duration_s`` seconds from ``input_path`` into ``output_path`` and report on it.

    ``progress(stage, done, total)`` is called for the stages load, analyse, render and write; ``cancel()``
    returning True stops the job with LoopCancelledError. On any error no output file is left behind.
    """
    report = progress or (lambda stage, done, total: None)
    validate_request(duration_s, fade_in_s, fade_out_s)
    output_path = Path(output_path)
    fmt = format_for(output_path, fmt)
    report("load", 0, 1)
    audio, sr = read_audio(input_path)
    report("load", 1, 1)
    _check(cancel)
    total = seconds_to_samples(duration_s, sr)
    report("analyse", 0, 1)
    choice = find_loop(audio, sr, total)
    report("analyse", 1, 1)
    _check(cancel)
    seam, analysis = choice.seam, choice.analysis
    preview, preview_seams = _preview(audio, choice, total)
    bar = analysis.bar_samples(choice.beats_per_bar, choice.phase)
    metrics = seam_metrics(preview, sr, preview_seams, analysis.beat_samples / sr, bar / sr, seam.length / sr)
    plan = plan_render(audio.shape[1], seam, total)
    gain = peak_gain(audio, seam, plan, -1.5 if fmt == "mp3" else -1.0)
    fade_in, fade_out = fade_lengths(plan, sr, fade_in_s, fade_out_s)
    body_start = plan.seams[0] + seam.half + (seam.loop_start - seam.jump_to - seam.half) if plan.seams else 0
    loop_tags = {"loopstart": body_start, "looplength": seam.length} if plan.seams else {}
    with AudioFileWriter(output_path, sr, audio.shape[0], fmt) as writer:
        for block in render_blocks(audio, seam, plan, gain, fade_in, fade_out):
            writer.write(block)
            report("render", writer.frames, total)
            _check(cancel)
        report("write", 0, 1)
        writer.finish()
        write_tags(writer.temp_path, fmt, {**(tags or {}), **loop_tags})
        writer.commit()
    report("write", 1, 1)
    first_bar = analysis.bar_number(seam.loop_start, choice.beats_per_bar, choice.phase)
    result = LoopReport(
        output=str(output_path),
        format=fmt,
        sample_rate=sr,
        requested_duration_s=duration_s,
        duration_s=samples_to_seconds(total, sr),
        loop_start_sample=seam.loop_start,
        loop_end_sample=seam.loop_end,
        loop_start_s=samples_to_seconds(seam.loop_start, sr),
        loop_end_s=samples_to_seconds(seam.loop_end, sr),
        loop_start_bar=round(first_bar),
        loop_end_bar=round(first_bar + seam.length / bar),
        loop_bars=round(seam.length / bar),
        tempo_bpm=60.0 * sr / analysis.beat_samples,
        beats_per_bar=choice.beats_per_bar,
        confidence=round(choice.confidence, 3),
        low_confidence=choice.confidence < LOW_CONFIDENCE,
        message=_message(choice.confidence, len(plan.seams)),
        seams=[samples_to_seconds(s, sr) for s in plan.seams],
        crossfade_ms=1000 * seam.crossfade.shape[1] / sr,
        crossfade_correlation=round(seam.correlation, 4),
        loop_length_error_samples=loop_length_error(seam.length, bar),
        gain_db=to_db(gain),
        metrics=metrics.to_dict(),
    )
    logger.info("loop %s: %s", output_path.name, result.message)
    return result
