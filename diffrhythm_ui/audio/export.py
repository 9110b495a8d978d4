"""Write a whole in-memory song to a file with its tags, atomically (for generated songs)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from diffrhythm_ui.audio.io import AudioFileWriter, format_for
from diffrhythm_ui.audio.tags import write_tags

BLOCK = 1 << 18  # samples per write: keeps the MP3 encoder's pipe busy without a second full copy


def write_audio_file(
    path: str | os.PathLike[str],
    audio: np.ndarray,  # (channels, n) float in [-1, 1]
    sample_rate: int,
    fmt: str | None = None,
    tags: Mapping[str, object] | None = None,
) -> Path:
    """Write ``audio`` to ``path`` (format from ``fmt`` or the suffix) with ``tags``; no partial file on error."""
    target = Path(path)
    kind = format_for(target, fmt)
    with AudioFileWriter(target, sample_rate, audio.shape[0], kind) as writer:
        for start in range(0, audio.shape[1], BLOCK):
            writer.write(audio[:, start : start + BLOCK])
        writer.finish()
        if tags:
            write_tags(writer.temp_path, kind, {k: v for k, v in tags.items() if v not in (None, "")})
        return writer.commit()
