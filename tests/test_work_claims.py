"""Sharing jobs between workers through the database, on SQLite and PostgreSQL: a row is claimed by one worker
only, a worker that stops sending heartbeats loses it, cancel requests reach whoever runs it, and a job handed
out twice still ends with one set of tracks."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from db import JobRepository, LoopRepository, TrackRepository, create_db_engine, init_db, utcnow
from diffrhythm_ui.engine.engine import EngineSettings
from diffrhythm_ui.service import DataStore, JobService, ServiceError, SongForm
from diffrhythm_ui.service import jobs as jobs_module
from diffrhythm_ui.service import lease as lease_module
from tests.factories import create_job, create_loop

SONG = SongForm(lyrics="[00:01.00]Two workers, one song\n", style_prompt="folk", duration=10, steps=2, seed=5)
LONG_SONG = SongForm(lyrics="[00:01.00]Long enough to cancel\n", style_prompt="folk", duration=95, steps=60, seed=6)


def test_only_one_worker_claims_a_row(session: Session) -> None:
    job = create_job(session, status="queued")
    repo = JobRepository(session)
    kwargs = {"stale_before": utcnow() - timedelta(seconds=30), "max_attempts": 3}
    assert repo.claim(job.job_id, "worker-a", **kwargs) is True
    assert repo.claim(job.job_id, "worker-b", **kwargs) is False
    session.refresh(job)
    assert (job.status, job.worker, job.attempts) == ("running", "worker-a", 1)
    assert repo.heartbeat(job.job_id, "worker-a") is False  # held, no cancel asked for
    assert repo.heartbeat(job.job_id, "worker-b") is None  # never held it


def test_a_silent_worker_loses_its_row_and_cannot_record(session: Session) -> None:
    loop = create_loop(session, status="queued")
    repo = LoopRepository(session)
    assert repo.claim(loop.loop_id, "worker-a", stale_before=utcnow() - timedelta(seconds=30), max_attempts=3)
    # Worker a goes quiet: from now on its last heartbeat counts as stale.
    assert repo.claim(loop.loop_id, "worker-b", stale_before=utcnow() + timedelta(seconds=1), max_attempts=3)
    session.refresh(loop)
    assert (loop.worker, loop.attempts) == ("worker-b", 2)
    assert repo.heartbeat(loop.loop_id, "worker-a") is None
    assert repo.update_held(loop.loop_id, "worker-a", status="completed") is False
    assert repo.update_held(loop.loop_id, "worker-b", progress=50.0, progress_note="Rendering 1/2") is True
    # Out of attempts: nobody may claim it again, however stale.
    assert not repo.claim(loop.loop_id, "worker-c", stale_before=utcnow() + timedelta(seconds=1), max_attempts=2)


def test_cancel_ends_a_queued_row_and_flags_a_running_one(session: Session) -> None:
    queued, running = create_job(session, status="queued"), create_job(session, status="queued")
    repo = JobRepository(session)
    repo.claim(running.job_id, "worker-a", stale_before=utcnow(), max_attempts=3)
    assert repo.request_cancel(queued.job_id, "Cancelled by the user.") == "cancelled"
    assert repo.request_cancel(running.job_id, "Cancelled by the user.") == "requested"
    assert repo.heartbeat(running.job_id, "worker-a") is True
    assert repo.request_cancel(queued.job_id, "again") is None  # already ended
    session.refresh(queued)
    assert (queued.status, queued.error) == ("cancelled", "Cancelled by the user.")
    assert not repo.claim(queued.job_id, "worker-b", stale_before=utcnow(), max_attempts=3)


def test_queue_position_counts_older_queued_rows(session: Session) -> None:
    first, second, third = (create_job(session, status="queued") for _ in range(3))
    repo = JobRepository(session)
    assert [repo.queued_before(j.job_id) for j in (first, second, third)] == [0, 1, 2]
    repo.claim(first.job_id, "worker-a", stale_before=utcnow(), max_attempts=3)
    assert repo.queued_before(third.job_id) == 1


@pytest.fixture
def services(fresh_url: str, tmp_path: Path) -> Iterator[tuple[JobService, JobService, sessionmaker[Session]]]:
    """Two job services on one database and data folder, as two worker processes would be."""
    engine = create_db_engine(fresh_url)
    init_db(engine)
    sessions = sessionmaker(bind=engine, expire_on_commit=False)
    store = DataStore(tmp_path / "data")
    settings = EngineSettings(kind="tiny", device="cpu")
    yield (
        JobService(sessions, settings, store, worker="worker-a"),
        JobService(sessions, settings, store, worker="worker-b"),
        sessions,
    )
    engine.dispose()


def test_a_job_handed_out_twice_makes_one_set_of_tracks(services: tuple[JobService, JobService, sessionmaker]) -> None:
    first, second, sessions = services
    view = first.generate(SONG)
    assert second.run("generate", view.job_id) == "skipped"  # a duplicate delivery of a finished job
    assert first.run("generate", "no-such-job") == "gone"
    with sessions() as session:
        job = JobRepository(session).get_by_id(view.job_id)
        assert (job.status, job.attempts, job.worker) == ("completed", 1, "worker-a")
        assert len(TrackRepository(session).get_by_job_id(view.job_id)) == 1


def test_cancel_reaches_the_worker_running_the_job(
    services: tuple[JobService, JobService, sessionmaker], monkeypatch: pytest.MonkeyPatch
) -> None:
    runner, app, sessions = services
    monkeypatch.setattr(lease_module, "HEARTBEAT_SECONDS", 0.2)
    with sessions() as session:
        job = create_job(session, status="queued", job_type="generate", payload=LONG_SONG.to_payload())
    outcome: list[str] = []
    thread = threading.Thread(target=lambda: outcome.append(runner.run("generate", job.job_id)))
    thread.start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with sessions() as session:
            if JobRepository(session).get_by_id(job.job_id).progress > 8:  # sampling has started
                break
        time.sleep(0.1)
    assert app.cancel(job.job_id) is True  # the other "process" only has the database
    thread.join(timeout=60)
    with sessions() as session:
        row = JobRepository(session).get_by_id(job.job_id)
        assert (row.status, row.error, outcome) == ("cancelled", "Cancelled by the user.", ["done"])
        assert TrackRepository(session).get_by_job_id(job.job_id) == []
    assert not runner.store.job_dir(job.job_id).exists()


def test_rows_of_dead_workers_are_requeued_then_given_up(
    services: tuple[JobService, JobService, sessionmaker], monkeypatch: pytest.MonkeyPatch
) -> None:
    survivor, _, sessions = services
    monkeypatch.setattr(jobs_module, "MAX_ATTEMPTS", 2)
    long_ago = utcnow() - timedelta(minutes=5)
    with sessions() as session:
        ids = [
            create_job(session, status="queued", job_type="generate", payload=SONG.to_payload()).job_id
            for _ in range(3)
        ]
        repo = JobRepository(session)
        for job_id in ids:
            repo.claim(job_id, "dead-worker", stale_before=utcnow(), max_attempts=2)
            repo.update(job_id, heartbeat_at=long_ago)
        repo.update(ids[1], attempts=2)  # its workers already died twice
        repo.request_cancel(ids[2], "Cancelled by the user.")  # asked to stop, but its worker is gone
    assert survivor.requeue_stale() == [("generate", ids[0])]
    with sessions() as session:
        states = {j: JobRepository(session).get_by_id(j) for j in ids}
        assert (states[ids[0]].status, states[ids[0]].worker) == ("queued", None)
        assert states[ids[1]].status == "failed" and "Stopped after 2 attempts" in states[ids[1]].error
        assert "dead-worker" in states[ids[1]].error
        assert states[ids[2]].status == "cancelled"
    assert survivor.run("generate", ids[0]) == "done"
    with sessions() as session:
        job = JobRepository(session).get_by_id(ids[0])
        assert (job.status, job.attempts, job.worker) == ("completed", 2, "worker-a")


def test_a_job_without_a_payload_fails_with_the_reason(services: tuple[JobService, JobService, sessionmaker]) -> None:
    """Rows queued or running before workers existed (no payload) are not run with an empty form."""
    runner, _, sessions = services
    with sessions() as session:
        job = create_job(session, status="running", job_type="generate")  # no heartbeat: taken as stale
    assert runner.requeue_stale() == [("generate", job.job_id)]
    assert runner.run("generate", job.job_id) == "done"
    with sessions() as session:
        row = JobRepository(session).get_by_id(job.job_id)
        assert row.status == "failed" and "older version" in row.error


def test_jobs_queued_too_long_are_sent_again_once_per_period(
    services: tuple[JobService, JobService, sessionmaker],
) -> None:
    """A queued job whose message the broker lost (a Redis restart without persistence) is sent again."""
    app, _, sessions = services
    with sessions() as session:
        old = create_job(session, status="queued", job_type="generate", payload=SONG.to_payload())
        JobRepository(session).update(old.job_id, updated_at=utcnow() - timedelta(hours=2))
        create_job(session, status="queued", job_type="generate", payload=SONG.to_payload())  # just queued
    assert app.requeue_stale(resend_waiting_after=3600) == [("generate", old.job_id)]
    assert app.requeue_stale(resend_waiting_after=3600) == []  # not again until another period has passed
    assert app.requeue_stale() == []


def test_an_unreachable_broker_fails_the_job_at_once(
    services: tuple[JobService, JobService, sessionmaker],
) -> None:
    _, _, sessions = services

    class DownBroker:
        def send(self, kind: str, row_id: str) -> None:
            raise ConnectionError("The job queue is unreachable (connection refused)")

    app = JobService(sessions, EngineSettings(kind="tiny"), services[0].store, DownBroker())
    with pytest.raises(ServiceError, match="unreachable"):
        app.generate(SONG)
    with sessions() as session:
        (job,) = JobRepository(session).get_all()
        assert job.status == "failed" and "unreachable" in job.error
