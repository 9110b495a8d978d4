"""Errors a caller can cause with an audio file: each says what is wrong in one line."""

from __future__ import annotations


class AudioError(Exception):
    """Base of every audio I/O error."""


class AudioLoadError(AudioError):
    """The file is missing, not audio, corrupt, empty, or has an unsupported layout."""


class AudioWriteError(AudioError):
    """The output could not be encoded or written; no partial file is left behind."""
