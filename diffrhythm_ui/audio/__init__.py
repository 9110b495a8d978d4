"""Audio files in and out: decoding, block-wise atomic writing, tags, and level measurements."""

from diffrhythm_ui.audio.exceptions import AudioError, AudioLoadError, AudioWriteError
from diffrhythm_ui.audio.io import FORMATS, AudioFileWriter, Format, format_for, read_audio
from diffrhythm_ui.audio.tags import read_tags, write_tags

__all__ = [
    "FORMATS",
    "AudioError",
    "AudioFileWriter",
    "AudioLoadError",
    "AudioWriteError",
    "Format",
    "format_for",
    "read_audio",
    "read_tags",
    "write_tags",
]
