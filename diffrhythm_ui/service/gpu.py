"""The one function that needs the GPU, wrapped for Hugging Face ZeroGPU when running there.

On a ZeroGPU Space (``SPACES_ZERO_GPU`` set and the ``spaces`` package present) ``@spaces.GPU`` attaches a
GPU for the call's duration; everywhere else the decorator is a no-op. The function takes picklable settings
and a request, keeps engines in a per-process cache, and does no database I/O.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from diffrhythm_ui.engine.engine import Engine, EngineSettings
from diffrhythm_ui.engine.pipeline import Cancel, GenerationRequest, GenerationResult, Progress
from diffrhythm_ui.engine.songs import SongFile, generate_to_files

F = TypeVar("F", bound=Callable[..., Any])
GPU_SECONDS = 300  # the longest a 285 s song with several variants should hold a ZeroGPU slot

_engines: dict[EngineSettings, Engine] = {}


def _gpu(duration: int) -> Callable[[F], F]:
    if os.environ.get("SPACES_ZERO_GPU"):
        try:
            import spaces
        except ImportError:
            return lambda fn: fn
        return spaces.GPU(duration=duration)
    return lambda fn: fn


def engine_for(settings: EngineSettings) -> Engine:
    """The process's engine for these settings (models stay loaded between jobs)."""
    if settings not in _engines:
        _engines[settings] = Engine(settings)
    return _engines[settings]


@_gpu(GPU_SECONDS)
def generate_songs(
    settings: EngineSettings,
    request: GenerationRequest,
    output: Path,
    fmt: str,
    tags: Mapping[str, object],
    progress: Progress | None = None,
    cancel: Cancel | None = None,
) -> tuple[list[SongFile], GenerationResult]:
    return generate_to_files(engine_for(settings), request, output, fmt, tags, progress, cancel)
