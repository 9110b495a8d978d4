"""Domain errors of the loop engine. Every message is one line a user can act on."""

from __future__ import annotations

from diffrhythm_ui.audio.exceptions import AudioLoadError


class LoopError(Exception):
    """Base of every loop-engine error."""


class InvalidDurationError(LoopError, ValueError):
    """A requested duration or fade is zero, negative, not a number, or absurdly long."""


class SilentAudioError(LoopError, AudioLoadError):
    """The input holds (almost) nothing but silence."""


class AudioTooShortError(LoopError, AudioLoadError):
    """The input is shorter than one bar, so there is nothing to repeat."""


class LoopCancelledError(LoopError):
    """The caller's cancel check asked the job to stop."""
