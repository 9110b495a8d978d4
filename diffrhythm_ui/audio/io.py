"""Reading any common audio file, and writing WAV, FLAC or MP3 block by block without partial files.

Reading goes through libsndfile (WAV, FLAC, OGG, MP3) and falls back to ffmpeg through pydub for anything
libsndfile cannot open. Writing streams blocks into a temporary file in the destination folder and moves it
into place with ``os.replace`` only once it is complete and tagged, so a failure or a cancellation never
leaves a half-written file under the requested name.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path
from types import TracebackType
from typing import Literal

import numpy as np
import soundfile as sf

from diffrhythm_ui.audio.exceptions import AudioLoadError, AudioWriteError

logger = logging.getLogger(__name__)

Format = Literal["wav", "flac", "mp3"]
FORMATS: tuple[Format, ...] = ("wav", "flac", "mp3")
MP3_BITRATE = "320k"
MP3_RATES = (32000, 44100, 48000)


def format_for(path: Path, requested: str | None = None) -> Format:
    """The output format: the one requested, else the file's suffix."""
    name = (requested or path.suffix.lstrip(".")).lower()
    if name not in FORMATS:
        raise AudioWriteError(f"unsupported output format {name or '(none)'!r}; use one of {', '.join(FORMATS)}")
    return name  # type: ignore[return-value]


def _read_with_ffmpeg(path: Path) -> tuple[np.ndarray, int]:
    from pydub import AudioSegment

    segment = AudioSegment.from_file(path)
    samples = np.array(segment.get_array_of_samples(), dtype=np.float32)
    scale = float(1 << (8 * segment.sample_width - 1))
    return (samples.reshape(-1, segment.channels).T / scale).astype(np.float32), segment.frame_rate


def read_audio(path: str | os.PathLike[str]) -> tuple[np.ndarray, int]:
    """Decode a file to float32 samples shaped (channels, n) in [-1, 1] and its sample rate.

    Raises AudioLoadError for a missing, empty, corrupt or non-audio file, or more than two channels.
    """
    path = Path(path)
    if not path.is_file():
        raise AudioLoadError(f"no such file: {path}")
    try:
        data, sr = sf.read(path, dtype="float32", always_2d=True)
        audio = data.T  # a view: a second copy of a long file would double the memory
    except (sf.LibsndfileError, RuntimeError, TypeError) as first:
        logger.debug("libsndfile could not read %s (%s); trying ffmpeg", path, first)
        try:
            audio, sr = _read_with_ffmpeg(path)
        except Exception as error:
            raise AudioLoadError(f"not a readable audio file: {path.name}") from error
    if audio.shape[1] == 0:
        raise AudioLoadError(f"the file holds no audio: {path.name}")
    if audio.shape[0] > 2:
        raise AudioLoadError(f"{path.name} has {audio.shape[0]} channels; only mono and stereo are supported")
    if not np.all(np.isfinite(audio)):
        raise AudioLoadError(f"{path.name} contains invalid (non-finite) samples")
    return audio, int(sr)


def _write_failure(path: Path, error: Exception) -> str:
    """libsndfile says only "System error." when a disk fills up; say what is most likely wrong."""
    try:
        free = shutil.disk_usage(path.parent).free
    except OSError:
        free = None
    if free is not None and free < (1 << 20):
        return f"could not write {path.name}: no space left on device"
    if not os.access(path.parent, os.W_OK):
        return f"could not write {path.name}: the folder is read-only"
    return f"could not write {path.name}: {error}"


class AudioFileWriter:
    """Writes (channels, n) float blocks to ``path`` in ``fmt``; the file appears only on ``commit()``.

    Use as a context manager: leaving the block without ``commit()`` (an exception, a cancellation) deletes
    the temporary file. ``temp_path`` is exposed so tags can be written before the file is moved into place.
    """

    def __init__(self, path: str | os.PathLike[str], sr: int, channels: int, fmt: Format) -> None:
        self.path = Path(path)
        self.sr, self.channels, self.fmt = sr, channels, fmt
        self.frames = 0
        if not self.path.parent.is_dir():
            raise AudioWriteError(f"output folder does not exist: {self.path.parent}")
        if fmt == "mp3" and sr not in MP3_RATES:
            raise AudioWriteError(f"MP3 needs a sample rate of {MP3_RATES}; got {sr} Hz")
        self.temp_path = self.path.with_name(f".{self.path.stem}.{uuid.uuid4().hex[:8]}.part.{fmt}")
        self._file: sf.SoundFile | None = None
        self._encoder: subprocess.Popen[bytes] | None = None
        self._encoder_log = None
        self._committed = False
        if fmt == "mp3":
            self._start_encoder()
        else:
            try:
                self._file = sf.SoundFile(
                    self.temp_path, "w", samplerate=sr, channels=channels, subtype="PCM_24", format=fmt.upper()
                )
            except sf.SoundFileError as error:
                raise AudioWriteError(_write_failure(self.path, error)) from error

    def _start_encoder(self) -> None:
        from pydub.utils import get_encoder_name

        self._encoder_log = tempfile.TemporaryFile()
        command = [get_encoder_name(), "-hide_banner", "-loglevel", "error", "-y"]
        command += ["-f", "f32le", "-ar", str(self.sr), "-ac", str(self.channels), "-i", "pipe:0"]
        command += ["-c:a", "libmp3lame", "-b:a", MP3_BITRATE, "-f", "mp3", str(self.temp_path)]
        self._encoder = subprocess.Popen(command, stdin=subprocess.PIPE, stderr=self._encoder_log)

    def write(self, block: np.ndarray) -> None:
        """Append a (channels, n) block of float samples in [-1, 1]."""
        frames = np.ascontiguousarray(block.T, dtype=np.float32)
        if self._file is not None:
            try:
                self._file.write(frames)
            except sf.SoundFileError as error:
                raise AudioWriteError(_write_failure(self.path, error)) from error
        elif self._encoder is not None and self._encoder.stdin is not None:
            try:
                self._encoder.stdin.write(frames.astype("<f4").tobytes())
            except BrokenPipeError as error:
                raise AudioWriteError(f"the MP3 encoder stopped: {self._encoder_error()}") from error
        self.frames += block.shape[1]

    def _encoder_error(self) -> str:
        if self._encoder_log is None:
            return ""
        self._encoder_log.seek(0)
        lines = self._encoder_log.read().decode(errors="replace").strip().splitlines()
        return lines[-1] if lines else "no message"

    def finish(self) -> None:
        """Close the encoder so the temporary file is complete (tags go on after this, before commit)."""
        if self._file is not None:
            try:
                self._file.close()
            except sf.SoundFileError as error:
                raise AudioWriteError(_write_failure(self.path, error)) from error
            finally:
                self._file = None
        if self._encoder is not None:
            assert self._encoder.stdin is not None
            self._encoder.stdin.close()
            status = self._encoder.wait()
            encoder, self._encoder = self._encoder, None
            if status != 0:
                message = self._encoder_error()
                raise AudioWriteError(f"MP3 encoding failed ({encoder.args[0]} exit {status}): {message}")

    def commit(self) -> Path:
        self.finish()
        os.replace(self.temp_path, self.path)
        self._committed = True
        return self.path

    def abort(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        if self._encoder is not None:
            self._encoder.kill()
            self._encoder.wait()
            self._encoder = None
        self.temp_path.unlink(missing_ok=True)

    def __enter__(self) -> AudioFileWriter:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if not self._committed:
            self.abort()
        if self._encoder_log is not None:
            self._encoder_log.close()
