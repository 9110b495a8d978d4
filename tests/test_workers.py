"""Scale-out on the machine's real Redis and PostgreSQL: the app and its GPU workers as separate processes (tiny
engine). Twenty jobs end completed exactly once although a worker is killed in the middle of one, every client
sees progress, cancel reaches a queued and a running job, and a job that kills its workers is given up on."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from gradio_client import Client
from gradio_client.exceptions import AppError
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from db import Job, Track, create_db_engine
from tests.app_server import running_app, start_worker, stop
from tests.conftest import DatabaseFactory
from tests.test_app_api import generate_args

pytestmark = pytest.mark.slow

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
SONG = generate_args(
    lyrics="[00:01.00]Many hands, many machines\n", duration=30, steps=8, variants=1, file_format="wav"
)
LONG_SONG = generate_args(lyrics="[00:01.00]This one takes a while\n", duration=95, steps=60, variants=1)


def redis_unavailable() -> str | None:
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError as error:
        return f"Redis not reachable at {REDIS_URL}: {error}"
    return None


@pytest.fixture
def cluster(
    postgres_skip_reason: str | None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[str, Engine]]:
    """A fresh PostgreSQL database and a queue of its own on the machine's Redis, with quick heartbeats so that a
    dead worker is noticed within seconds; the app and the workers read these from the environment."""
    reason = postgres_skip_reason or redis_unavailable()
    if reason:
        pytest.skip(reason)
    factory = DatabaseFactory("postgresql", tmp_path)
    db_url = factory.new_url()
    for name, value in {
        "BROKER_URL": REDIS_URL,
        "DIFFRHYTHM_QUEUE": f"test-{uuid.uuid4().hex[:8]}",
        "DIFFRHYTHM_HEARTBEAT_SECONDS": "0.5",
        "DIFFRHYTHM_STALE_SECONDS": "4",
        "DIFFRHYTHM_SWEEP_SECONDS": "1",
        "DIFFRHYTHM_MAX_ATTEMPTS": "2",
    }.items():
        monkeypatch.setenv(name, value)
    engine = create_db_engine(db_url)
    try:
        yield db_url, engine
    finally:
        engine.dispose()
        factory.drop_all()


def worker_id(process: subprocess.Popen) -> str:
    return f"worker@{socket.gethostname()}:{process.pid}"


def jobs(engine: Engine) -> list[Job]:
    with Session(engine) as session:
        return list(session.scalars(select(Job).where(Job.job_type == "generate")))


def wait_for(condition, timeout: float = 120, every: float = 0.05):  # noqa: ANN001, ANN201 - a test helper
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout} s waiting for {condition.__name__}")


def watch_progress(submitted: list, seen: list[set[str]], done: threading.Event) -> None:
    while not done.is_set():
        for job, descriptions in zip(submitted, seen, strict=True):
            for unit in job.status().progress_data or []:
                descriptions.add(unit.desc or "")
        time.sleep(0.05)


def kill(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)


@pytest.mark.timeout(600)
def test_twenty_jobs_on_two_workers_survive_a_killed_worker(cluster: tuple[str, Engine], tmp_path: Path) -> None:
    db_url, engine = cluster
    data = tmp_path / "data"
    workers = [start_worker(db_url, data, tmp_path / f"worker-{i}.log") for i in range(2)]
    try:
        with running_app(db_url, data) as url:
            clients = [Client(url, verbose=False) for _ in range(4)]
            submitted = [clients[i % 4].submit(**SONG, api_name="/generate") for i in range(20)]
            seen: list[set[str]] = [set() for _ in submitted]
            done = threading.Event()
            watcher = threading.Thread(target=watch_progress, args=(submitted, seen, done), daemon=True)
            watcher.start()

            def victim_mid_job() -> str | None:
                rows = jobs(engine)
                if sum(j.status == "completed" for j in rows) < 4:
                    return None
                held = [j for j in rows if j.worker == worker_id(workers[0]) and j.status == "running"]
                return held[0].job_id if held and 10 < held[0].progress < 80 else None

            victim = wait_for(victim_mid_job, timeout=240)
            kill(workers[0])
            results = [job.result(timeout=300)[1] for job in submitted]
            done.set()
            watcher.join(timeout=10)

            rows = {j.job_id: j for j in jobs(engine)}
            assert len(rows) == 20 and {r["job_id"] for r in results} == set(rows)
            assert all(j.status == "completed" for j in rows.values())
            with Session(engine) as session:
                tracks = list(session.scalars(select(Track)))
            assert sorted(t.job_id for t in tracks) == sorted(rows)  # one track per job, no duplicates
            assert all((data / t.file_path_wav).is_file() for t in tracks)
            assert (rows[victim].attempts, rows[victim].worker) == (2, worker_id(workers[1]))
            (victim_track,) = [t for t in tracks if t.job_id == victim]
            assert victim_track.file_path_wav.endswith("-attempt2.wav")  # the dead worker's names are not reused
            assert {j.worker for j in rows.values()} == {worker_id(w) for w in workers}  # both did work
            assert all(any(d.startswith("Transformer pass") for d in descriptions) for descriptions in seen)

            # Cancel: a queued job ends at once, the running one between steps on the worker.
            client = clients[0]
            running = client.submit(**LONG_SONG, api_name="/generate")
            running_id = wait_for(lambda: [j.job_id for j in jobs(engine) if j.status == "running"])[0]
            queued = client.submit(**LONG_SONG, api_name="/generate")
            queued_id = wait_for(lambda: [j.job_id for j in jobs(engine) if j.status == "queued"])[0]
            assert client.predict(queued_id, api_name="/cancel") is True
            with pytest.raises(AppError, match="cancelled"):
                queued.result(timeout=60)
            wait_for(lambda: next(j for j in jobs(engine) if j.job_id == running_id).progress > 8)
            assert client.predict(running_id, api_name="/cancel") is True
            with pytest.raises(AppError, match="cancelled"):
                running.result(timeout=120)
            states = {j.job_id: (j.status, j.attempts) for j in jobs(engine)}
            assert states[queued_id] == ("cancelled", 0) and states[running_id] == ("cancelled", 1)
            assert not (data / "jobs" / running_id).exists() and not (data / "jobs" / queued_id).exists()
    finally:
        for process in workers:
            if process.poll() is None:
                stop(process)


@pytest.mark.timeout(600)
def test_a_job_that_kills_its_workers_is_given_up(cluster: tuple[str, Engine], tmp_path: Path) -> None:
    """Each worker that takes the job dies (as an out-of-memory kill would do); after DIFFRHYTHM_MAX_ATTEMPTS (2
    here) the job fails with the reason, and the next worker goes on with other work."""
    db_url, engine = cluster
    data = tmp_path / "data"
    with running_app(db_url, data) as url:
        client = Client(url, verbose=False)
        poison = client.submit(**LONG_SONG, api_name="/generate")
        for attempt in (1, 2):
            worker = start_worker(db_url, data, tmp_path / f"worker-{attempt}.log")
            wait_for(lambda w=worker: [j for j in jobs(engine) if j.worker == worker_id(w) and j.status == "running"])
            kill(worker)
        survivor = start_worker(db_url, data, tmp_path / "worker-3.log")
        try:
            with pytest.raises(AppError, match="Stopped after 2 attempts"):
                poison.result(timeout=120)
            (job,) = jobs(engine)
            assert job.status == "failed" and job.attempts == 2 and "Stopped after 2 attempts" in job.error
            assert not (data / "jobs" / job.job_id).exists()
            result = client.predict(**SONG, api_name="/generate")[1]
            assert len(result["tracks"]) == 1
        finally:
            stop(survivor)


@pytest.mark.timeout(600)
def test_one_worker_with_two_processes_runs_two_jobs_at_once(cluster: tuple[str, Engine], tmp_path: Path) -> None:
    """``--concurrency 2``: a process per job (each would have its own GPU with ``--gpus``)."""
    db_url, engine = cluster
    data = tmp_path / "data"
    worker = start_worker(db_url, data, tmp_path / "worker.log", "--concurrency", "2", "--gpus", "0,1")
    try:
        with running_app(db_url, data) as url:
            client = Client(url, verbose=False)
            submitted = [client.submit(**SONG, api_name="/generate") for _ in range(4)]
            assert all(len(job.result(timeout=300)[1]["tracks"]) == 1 for job in submitted)
        rows = jobs(engine)
        assert [j.status for j in rows] == ["completed"] * 4
        holders = {j.worker for j in rows}
        assert len(holders) == 2 and worker_id(worker) not in holders  # the two child processes, not the parent
    finally:
        stop(worker)
