"""Where the app's audio files live: one folder per job under ``DATA_DIR``, written atomically.

Every path the app hands out or deletes goes through ``DataStore.resolve``, which refuses anything outside
the data folder (``..``, absolute paths elsewhere, symlinks pointing out), so a forged path in the database
can never make the app read or delete another file.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

logger = logging.getLogger(__name__)


class StorageError(RuntimeError):
    """A file could not be written or is outside the data folder."""


class DataStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root).expanduser().resolve()
        self.root.mkdir(parents=True, exist_ok=True)

    def job_dir(self, job_id: str) -> Path:
        return self.root / "jobs" / job_id

    def uploads_dir(self) -> Path:
        return self.root / "uploads"

    def resolve(self, path: str | Path) -> Path:
        """The absolute path of a file inside the data folder; ``StorageError`` for anything else."""
        candidate = Path(path)
        candidate = (candidate if candidate.is_absolute() else self.root / candidate).resolve()
        if candidate != self.root and self.root not in candidate.parents:
            raise StorageError(f"{path} is outside the data folder")
        return candidate

    def existing_file(self, path: str | Path | None) -> Path | None:
        """The absolute path of a file that exists inside the data folder, else None."""
        if not path:
            return None
        try:
            target = self.resolve(path)
        except StorageError:
            return None
        return target if target.is_file() else None

    def relative(self, path: Path) -> str:
        return self.resolve(path).relative_to(self.root).as_posix()

    @contextmanager
    def atomic_path(self, final: Path) -> Iterator[Path]:
        """A temporary path beside ``final``; renamed to it only if the block succeeds, removed otherwise."""
        final = self.resolve(final)
        final.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{final.stem}-", suffix=final.suffix, dir=final.parent)
        os.close(fd)
        try:
            yield Path(tmp)
            os.replace(tmp, final)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def write_with(self, final: Path, writer: Callable[[Path], None]) -> Path:
        """Run ``writer(tmp_path)`` and move the result into place atomically; disk errors become clear."""
        try:
            with self.atomic_path(final) as tmp:
                writer(tmp)
        except OSError as error:
            raise StorageError(f"Could not write {final.name}: {error.strerror or error}") from error
        return self.resolve(final)

    def delete_tree(self, folder: Path) -> None:
        folder = self.resolve(folder)
        if folder == self.root:
            raise StorageError("refusing to delete the whole data folder")
        shutil.rmtree(folder, ignore_errors=True)

    def delete_file(self, path: str | Path) -> bool:
        try:
            target = self.resolve(path)
        except StorageError:
            logger.warning("Not deleting %s: outside the data folder", path)
            return False
        if target.is_file():
            target.unlink()
            return True
        return False

    def remove_partial_files(self, older_than_s: float = 0.0) -> list[Path]:
        """Delete the hidden temporary files (``.name...``) that interrupted writes left in job folders; with
        ``older_than_s``, only those untouched that long (other processes may be writing the newer ones)."""
        jobs = self.root / "jobs"
        cutoff = time.time() - older_than_s
        candidates = jobs.rglob(".*") if jobs.is_dir() else []
        partial = sorted(p for p in candidates if p.is_file() and (not older_than_s or p.stat().st_mtime < cutoff))
        for path in partial:
            path.unlink(missing_ok=True)
        return partial

    def audio_files(self) -> list[Path]:
        """Every finished audio file under the data folder (temporary files and jobs' input copies excluded)."""
        return sorted(
            p
            for p in self.root.rglob("*")
            if p.is_file()
            and not p.name.startswith(".")
            and p.suffix in AUDIO_SUFFIXES
            and INPUTS_FOLDER not in p.relative_to(self.root).parts
        )


AUDIO_SUFFIXES = {".wav", ".mp3", ".flac", ".ogg"}
INPUTS_FOLDER = "inputs"  # jobs/<id>/inputs: the files a queued job reads, kept until it ends
