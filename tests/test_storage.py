"""The data folder: nothing outside it can be resolved, written or deleted, and writes are atomic."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy.orm import sessionmaker

from db import JobRepository, LoopRepository, TrackRepository, create_db_engine, init_db
from diffrhythm_ui.engine.engine import EngineSettings
from diffrhythm_ui.service import JobService
from diffrhythm_ui.service.storage import DataStore, StorageError


def test_paths_outside_the_data_folder_are_refused(tmp_path: Path) -> None:
    store = DataStore(tmp_path / "data")
    secret = tmp_path / "secret.txt"
    secret.write_text("keep me")
    (store.root / "jobs").mkdir()
    os.symlink(secret, store.root / "jobs" / "link.wav")
    for forged in ("../secret.txt", str(secret), "jobs/../../secret.txt", "jobs/link.wav", "/etc/passwd"):
        with pytest.raises(StorageError, match="outside the data folder"):
            store.resolve(forged)
        assert store.delete_file(forged) is False
    assert secret.read_text() == "keep me"
    with pytest.raises(StorageError):
        store.delete_tree(store.root)


def test_atomic_writes_leave_nothing_on_failure(tmp_path: Path) -> None:
    store = DataStore(tmp_path / "data")
    target = store.job_dir("j1") / "song.wav"

    def broken(path: Path) -> None:
        path.write_bytes(b"half")
        raise OSError(28, "No space left on device")

    with pytest.raises(StorageError, match="No space left on device"):
        store.write_with(target, broken)
    assert not any(p.is_file() for p in store.root.rglob("*"))
    written = store.write_with(target, lambda path: path.write_bytes(b"whole"))
    assert written.read_bytes() == b"whole" and store.relative(written) == "jobs/j1/song.wav"


def test_partial_files_are_found_and_removed(tmp_path: Path) -> None:
    store = DataStore(tmp_path / "data")
    folder = store.job_dir("j2")
    folder.mkdir(parents=True)
    (folder / ".song.ab12.part.wav").write_bytes(b"x")
    (folder / "song.wav").write_bytes(b"y")
    assert [p.name for p in store.remove_partial_files()] == [".song.ab12.part.wav"]
    assert [p.name for p in store.audio_files()] == ["song.wav"]


def test_only_old_partial_files_are_removed_while_workers_may_write(tmp_path: Path) -> None:
    store = DataStore(tmp_path)
    folder = store.job_dir("j")
    folder.mkdir(parents=True)
    (folder / ".old-1.wav").write_bytes(b"x")
    (folder / ".writing-2.wav").write_bytes(b"x")
    os.utime(folder / ".old-1.wav", (0, 0))
    assert [p.name for p in store.remove_partial_files(older_than_s=3600)] == [".old-1.wav"]
    assert (folder / ".writing-2.wav").exists()


def test_delete_never_touches_files_outside_the_data_folder(tmp_path: Path) -> None:
    secret = tmp_path / "secret.wav"
    secret.write_bytes(b"keep")
    engine = create_db_engine(f"sqlite:///{tmp_path / 'studio.db'}")
    init_db(engine)
    sessions = sessionmaker(bind=engine, expire_on_commit=False)
    store = DataStore(tmp_path / "data")
    own = store.job_dir("j") / "song.wav"
    own.parent.mkdir(parents=True)
    own.write_bytes(b"mine")
    with sessions() as session:  # rows forged to point outside DATA_DIR, as an attacker with DB access might
        JobRepository(session).create(job_id="j")
        track = TrackRepository(session).create(
            job_id="j",
            file_path_wav="jobs/j/song.wav",
            file_path_mp3="../secret.wav",
            metadata={"file_path_flac": str(secret)},
        )
        LoopRepository(session).create(track_id=track.track_id, duration=10, result_path="/etc/passwd")
    assert JobService(sessions, EngineSettings(kind="tiny"), store).delete_job("j") is True
    assert secret.read_bytes() == b"keep" and Path("/etc/passwd").exists()
    assert not own.exists()
    engine.dispose()
