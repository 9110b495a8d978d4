"""Repository contract: CRUD, queries, pagination, rollback and transactions, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from db import ConstraintViolation, JobRepository, LoopRepository, TrackRepository, session_scope
from tests.factories import create_job, create_loop, create_track

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)


def test_seed_usage_examples(session: Session) -> None:
    repo = JobRepository(session)
    job = repo.create(job_id="abc-123", job_type="diffrhythm", prompt="Ambient music", metadata={"language": "en"})
    assert (job.job_id, job.metadata_) == ("abc-123", {"language": "en"})
    updated = repo.update(
        job_id="abc-123", status="completed", progress=100, file_manifest={"wav": "/output/track.wav"}
    )
    assert (updated.status, updated.progress, updated.file_manifest) == (
        "completed",
        100,
        {"wav": "/output/track.wav"},
    )
    track = TrackRepository(session).create(
        track_id="track-456", job_id="abc-123", duration=30.5, file_path_wav="/output/track.wav"
    )
    assert track.job.job_id == "abc-123" and track.duration == 30.5
    loop = LoopRepository(session).create(loop_id="loop-789", track_id="track-456", duration=120, format="MP3")
    assert (loop.track.track_id, loop.duration, loop.format) == ("track-456", 120.0, "MP3")


def test_get_by_id_and_missing_ids(session: Session) -> None:
    job = create_job(session)
    repo = JobRepository(session)
    assert repo.get_by_id(job.job_id) is job
    assert repo.get_by_id(job_id=job.job_id) is job
    assert repo.get_by_id("missing") is None
    assert repo.update("missing", status="failed") is None
    assert repo.delete("missing") is False
    assert TrackRepository(session).update(track_id="missing", duration=3) is None
    assert LoopRepository(session).delete(loop_id="missing") is False
    assert repo.delete(job_id=job.job_id) is True and repo.get_by_id(job.job_id) is None


def test_get_all_is_newest_first_with_id_tie_breaker(session: Session) -> None:
    repo = JobRepository(session)
    # Three jobs share a timestamp: their order must still be fixed (by id, descending).
    stamps = [
        T0,
        T0 + timedelta(seconds=1),
        T0 + timedelta(seconds=1),
        T0 + timedelta(seconds=1),
        T0 + timedelta(days=1),
    ]
    jobs = [create_job(session, job_id=f"job-{i}", created_at=stamp) for i, stamp in enumerate(stamps)]
    expected = ["job-4", "job-3", "job-2", "job-1", "job-0"]
    assert [j.job_id for j in repo.get_all()] == expected
    pages = [repo.get_all(limit=2, offset=offset) for offset in (0, 2, 4, 6)]
    assert [[j.job_id for j in page] for page in pages] == [expected[:2], expected[2:4], expected[4:], []]
    assert repo.get_all(limit=0) == []
    assert repo.get_all(limit=None, offset=1)[0].job_id == "job-3"
    assert repo.count() == len(jobs)
    with pytest.raises(ValueError, match="offset"):
        repo.get_all(offset=-1)


def test_get_by_status(session: Session) -> None:
    repo = JobRepository(session)
    for i, status in enumerate(["queued", "running", "completed", "completed", "failed"]):
        create_job(session, job_id=f"j{i}", status=status, created_at=T0 + timedelta(minutes=i))
    assert [j.job_id for j in repo.get_by_status("completed")] == ["j3", "j2"]
    assert [j.job_id for j in repo.get_by_status("completed", limit=1, offset=1)] == ["j2"]
    assert repo.get_by_status("interrupted") == []
    with pytest.raises(ValueError, match="status must be one of"):
        repo.get_by_status("done")


def test_track_and_loop_queries(session: Session) -> None:
    job, other = create_job(session), create_job(session)
    tracks = [create_track(session, job, track_id=f"t{i}", created_at=T0 + timedelta(seconds=i)) for i in range(3)]
    create_track(session, other)
    assert [t.track_id for t in TrackRepository(session).get_by_job_id(job.job_id)] == ["t0", "t1", "t2"]
    assert TrackRepository(session).get_by_job_id("missing") == []
    loops = LoopRepository(session)
    create_loop(session, track=tracks[0], loop_id="l0", status="completed", created_at=T0)
    create_loop(session, track=tracks[0], loop_id="l1", status="running", created_at=T0 + timedelta(seconds=1))
    create_loop(session, track=tracks[1], loop_id="l2", status="completed", created_at=T0 + timedelta(seconds=2))
    assert [lp.loop_id for lp in loops.get_by_track_id("t0")] == ["l1", "l0"]
    assert [lp.loop_id for lp in loops.get_by_status("completed")] == ["l2", "l0"]
    with pytest.raises(ValueError):
        loops.get_by_status("nope")


def test_get_all_with_tracks_loads_tracks_in_order(session: Session) -> None:
    job = create_job(session, created_at=T0 + timedelta(days=1))
    create_job(session, created_at=T0)
    for i in range(2):
        create_track(session, job, created_at=T0 + timedelta(seconds=i), seed=i)
    page = JobRepository(session).get_all_with_tracks(limit=1)
    assert [j.job_id for j in page] == [job.job_id]
    assert [t.seed for t in page[0].tracks] == [0, 1]


def test_failed_write_rolls_back_and_session_stays_usable(session: Session) -> None:
    repo = JobRepository(session)
    create_job(session, job_id="dup")
    with pytest.raises(ConstraintViolation, match="already exists"):
        repo.create(job_id="dup")
    with pytest.raises(ConstraintViolation):
        TrackRepository(session).create(job_id="ghost")
    assert repo.create(job_id="after").job_id == "after"
    assert {j.job_id for j in repo.get_all()} == {"dup", "after"}


def test_session_scope_commits_all_or_nothing(engine: Engine) -> None:
    with Session(engine, expire_on_commit=False) as session:
        with pytest.raises(ConstraintViolation):
            with session_scope(session):
                job = JobRepository(session).create(prompt="scoped")
                TrackRepository(session).create(job_id=job.job_id)
                LoopRepository(session).create(track_id="ghost", duration=10)
        assert JobRepository(session).get_by_id(job.job_id) is None
        with session_scope(session):
            job = JobRepository(session).create(prompt="scoped ok")
            track = TrackRepository(session).create(job_id=job.job_id)
            LoopRepository(session).create(track_id=track.track_id, duration=10)
    with Session(engine) as reader:
        assert len(TrackRepository(reader).get_by_job_id(job.job_id)) == 1
        assert JobRepository(reader).delete(job.job_id) is True
