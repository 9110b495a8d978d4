"""Faults: a full disk, a read-only data folder and an unreachable database give clear errors and lose nothing."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from db import JobRepository, TrackRepository, create_db_engine, init_db
from diffrhythm_ui.engine.engine import EngineSettings
from diffrhythm_ui.service import DataStore, JobService, ServiceError, SongForm
from tests.app_server import ROOT

pytestmark = pytest.mark.slow

FORM = SongForm(lyrics="[00:01.00]Hello there\n", style_prompt="folk", duration=12, steps=2, variants=1)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs: room for the folders, not for a 12 s WAV (about 3 MB)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here (needs root): {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def service(tmp_path: Path, data: Path) -> tuple[JobService, sessionmaker[Session]]:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'studio.db'}")
    init_db(engine)
    sessions = sessionmaker(bind=engine, expire_on_commit=False)
    return JobService(sessions, EngineSettings(kind="tiny", device="cpu"), DataStore(data)), sessions


def only_job(sessions: sessionmaker[Session]) -> tuple[str, str | None, int]:
    with sessions() as session:
        (job,) = JobRepository(session).get_all()
        return job.status, job.error, TrackRepository(session).count()


def test_disk_full_fails_the_job_clearly(tmp_path: Path, small_disk: Path) -> None:
    jobs, sessions = service(tmp_path, small_disk / "data")
    with pytest.raises(ServiceError, match="no space left on device"):
        jobs.generate(FORM)
    status, error, tracks = only_job(sessions)
    assert status == "failed" and "no space left on device" in error and tracks == 0
    assert not any(p.is_file() for p in small_disk.rglob("*"))  # no half-written file stays behind


def test_read_only_data_folder_fails_the_job_clearly(tmp_path: Path, small_disk: Path) -> None:
    jobs, sessions = service(tmp_path, small_disk / "data")
    (small_disk / "data" / "jobs").mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    with pytest.raises(ServiceError, match="(?i)read-only"):
        jobs.generate(FORM)
    status, error, tracks = only_job(sessions)
    assert status == "failed" and "read-only" in error.lower() and tracks == 0


def test_unreachable_database_at_start_exits_with_a_message(tmp_path: Path) -> None:
    run = subprocess.run(
        [
            sys.executable,
            "app.py",
            "--db-url",
            "postgresql+psycopg://postgres@127.0.0.1:9/nothing",
            "--data-dir",
            str(tmp_path / "data"),
            "--engine",
            "tiny",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 3
    assert "Cannot open the database" in run.stderr and "Traceback" not in run.stderr
