"""What can go wrong in the engine, each with a message a musician or an operator can act on."""

from __future__ import annotations


class EngineError(RuntimeError):
    """Base class of the engine's errors."""


class ModelFilesMissing(EngineError):
    """Model files are neither downloadable nor present locally."""


class CheckpointError(EngineError):
    """A checkpoint file is unreadable or does not fit the model."""


class StyleError(EngineError, ValueError):
    """The style prompt or reference audio cannot be used."""


class GenerationCancelled(EngineError):
    """The caller asked to stop between transformer passes."""


class OutOfMemory(EngineError):
    """The accelerator ran out of memory; the message says which option would fit."""
