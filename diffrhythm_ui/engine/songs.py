"""Generate songs straight to audio files: the shared last step of the CLI and the job service."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from diffrhythm_ui.audio.export import write_audio_file
from diffrhythm_ui.engine.engine import Engine
from diffrhythm_ui.engine.errors import GenerationCancelled
from diffrhythm_ui.engine.pipeline import Cancel, GenerationRequest, GenerationResult, Progress
from diffrhythm_ui.engine.vae import SAMPLE_RATE


@dataclass
class SongFile:
    path: Path
    seed: int
    duration: float


def variant_paths(output: Path, count: int, fmt: str) -> list[Path]:
    """``song.wav`` for one variant; ``song-1.wav``, ``song-2.wav``, ... for several."""
    base = output.with_suffix(f".{fmt}")
    if count == 1:
        return [base]
    return [base.with_name(f"{base.stem}-{i}{base.suffix}") for i in range(1, count + 1)]


def generate_to_files(
    engine: Engine,
    request: GenerationRequest,
    output: Path,
    fmt: str = "wav",
    tags: Mapping[str, object] | None = None,
    progress: Progress | None = None,
    cancel: Cancel | None = None,
) -> tuple[list[SongFile], GenerationResult]:
    """Generate ``request`` and write each variant next to ``output``; nothing is written if anything fails."""
    report = progress or (lambda stage, done, total: None)
    result = engine.generate(request, report, cancel)
    clock = time.perf_counter()
    paths = variant_paths(output, len(result.songs), fmt)
    written: list[SongFile] = []
    try:
        for i, (song, path) in enumerate(zip(result.songs, paths, strict=True)):
            if cancel is not None and cancel():
                raise GenerationCancelled("cancelled while writing files")
            report("writing", i, len(paths))
            write_audio_file(path, song.audio, SAMPLE_RATE, fmt, tags)
            written.append(SongFile(path, song.seed, song.duration))
        report("writing", len(paths), len(paths))
    except BaseException:
        for song_file in written:
            song_file.path.unlink(missing_ok=True)
        raise
    result.timings["writing"] = time.perf_counter() - clock
    return written, result
