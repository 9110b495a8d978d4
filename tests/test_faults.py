"""Faults: a full disk, a read-only data folder and an unreachable database give clear errors and lose nothing."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from gradio_client import Client
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from db import JobRepository, TrackRepository, create_db_engine, init_db
from diffrhythm_ui.engine.engine import EngineSettings
from diffrhythm_ui.service import DataStore, JobService, ServiceError, SongForm
from tests.app_server import ROOT, running_app
from tests.test_app_api import generate_args

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


def run_command(*args: str) -> subprocess.CompletedProcess[str]:
    """Run a command of the project as an operator would, without BROKER_URL unless given."""
    env = {k: v for k, v in os.environ.items() if k != "BROKER_URL"}
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=120, env=env)


def test_unreachable_database_at_start_exits_with_a_message(tmp_path: Path) -> None:
    url = "postgresql+psycopg://postgres@127.0.0.1:9/nothing"
    run = run_command("app.py", "--db-url", url, "--data-dir", str(tmp_path / "data"), "--engine", "tiny")
    assert run.returncode == 3
    assert "Cannot open the database" in run.stderr and "Traceback" not in run.stderr


def test_unreachable_broker_at_start_exits_with_a_message(tmp_path: Path) -> None:
    common = [
        "--db-url",
        f"sqlite:///{tmp_path / 'studio.db'}",
        "--data-dir",
        str(tmp_path / "data"),
        "--engine",
        "tiny",
    ]
    app = run_command("app.py", "--broker-url", "redis://127.0.0.1:9/0", *common)
    assert app.returncode == 5
    assert "cannot reach the broker at redis://127.0.0.1:9/0" in app.stderr and "Traceback" not in app.stderr
    worker = run_command("-m", "diffrhythm_ui", "worker", *common)
    assert worker.returncode != 0 and "set BROKER_URL" in worker.stderr and "Traceback" not in worker.stderr


def test_app_survives_postgresql_dropping_its_connections(backend: str, fresh_url: str, tmp_path: Path) -> None:
    """What a PostgreSQL restart does to a running app, without restarting the machine's shared server: every
    connection of the app's database is terminated while the app runs, and its next requests must still work."""
    if backend != "postgresql":
        pytest.skip("PostgreSQL connections")
    with running_app(fresh_url, tmp_path / "data") as url:
        client = Client(url, verbose=False)
        first = client.predict(**generate_args(variants=1, file_format="wav"), api_name="/generate")[1]
        assert client.predict("", "All", 1, api_name="/library")["total_jobs"] == 1
        admin = create_db_engine(fresh_url.rsplit("/", 1)[0] + "/test")
        with admin.connect() as connection:
            killed = connection.execute(
                text("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = :name"),
                {"name": make_url(fresh_url).database},
            ).scalar()
        admin.dispose()
        assert killed >= 1
        assert client.predict("", "All", 1, api_name="/library")["total_jobs"] == 1
        second = client.predict(**generate_args(variants=1, file_format="wav"), api_name="/generate")[1]
        library = client.predict("", "completed", 1, api_name="/library")
        assert {e["id"] for e in library["entries"] if e["kind"] == "job"} == {first["job_id"], second["job_id"]}
