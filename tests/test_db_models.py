"""Model defaults, timestamps, JSON columns, validation and cascades, on SQLite and PostgreSQL."""

from __future__ import annotations

import math
import uuid
from datetime import timedelta, timezone

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from db import ConstraintViolation, Job, JobRepository, Loop, LoopRepository, Track, TrackRepository
from tests.factories import create_job, create_loop, create_track


def test_defaults(session: Session) -> None:
    job = JobRepository(session).create(job_type="diffrhythm")
    assert uuid.UUID(job.job_id).version == 4
    assert job.status == "queued"
    assert job.progress == 0
    assert job.metadata_ == {} and job.file_manifest == {}
    assert job.error is None and job.prompt is None
    loop = create_loop(session, track=create_track(session, job))
    assert loop.status == "queued" and loop.format == "WAV" and loop.fade_in_out is False
    assert loop.report == {} and loop.progress == 0


def test_json_defaults_are_fresh_per_row(session: Session) -> None:
    first, second = create_job(session), create_job(session)
    first.metadata_["genre"] = "jazz"
    session.commit()
    session.expire_all()
    assert JobRepository(session).get_by_id(second.job_id).metadata_ == {}
    assert JobRepository(session).get_by_id(first.job_id).metadata_ == {"genre": "jazz"}


def test_timestamps_are_aware_utc_and_maintained(session: Session) -> None:
    repo = JobRepository(session)
    job = repo.create(prompt="x")
    session.expire_all()
    job = repo.get_by_id(job.job_id)
    assert job.created_at.tzinfo is not None and job.created_at.utcoffset() == timedelta(0)
    assert job.updated_at >= job.created_at
    created, updated = job.created_at, job.updated_at
    repo.update(job.job_id, progress=50)
    session.expire_all()
    job = repo.get_by_id(job.job_id)
    assert job.created_at == created
    assert job.updated_at > updated


def test_naive_datetime_is_refused(session: Session) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        create_job(session, created_at=create_job(session).created_at.replace(tzinfo=None))


def test_other_time_zones_are_stored_as_utc(session: Session) -> None:
    paris = timezone(timedelta(hours=1))
    job = create_job(session)
    when = job.created_at.astimezone(paris)
    JobRepository(session).update(job.job_id, created_at=when)
    session.expire_all()
    stored = JobRepository(session).get_by_id(job.job_id).created_at
    assert stored == when and stored.tzinfo == timezone.utc


def test_json_round_trip_nested_unicode(session: Session) -> None:
    meta = {
        "language": "zh",
        "title": "夜曲 — Nocturne 🎹",
        "tags": ["lo-fi", "späti", {"nested": {"deep": [1, 2.5, None, True]}}],
        "quote": 'He said "hi" \\ bye',
    }
    job = create_job(session, metadata=meta, file_manifest={"wav": "/out/ü.wav", "variants": [{"seed": 7}]})
    track = create_track(session, job, metadata={"artist": "Björk", "album": "Ωmega"})
    session.expire_all()
    assert JobRepository(session).get_by_id(job.job_id).metadata_ == meta
    assert JobRepository(session).get_by_id(job.job_id).file_manifest["variants"] == [{"seed": 7}]
    assert TrackRepository(session).get_by_id(track.track_id).metadata_["artist"] == "Björk"
    assert job.to_dict()["metadata"] == meta


def test_in_place_json_changes_are_saved(session: Session) -> None:
    job = create_job(session, metadata={"genre": "pop"})
    job.metadata_["mood"] = "calm"
    session.commit()
    session.expire_all()
    assert JobRepository(session).get_by_id(job.job_id).metadata_ == {"genre": "pop", "mood": "calm"}


@pytest.mark.parametrize(
    ("model", "fields", "message"),
    [
        (Job, {"status": "done"}, "status must be one of"),
        (Job, {"progress": 101}, "within 0-100"),
        (Job, {"progress": -0.5}, "within 0-100"),
        (Job, {"progress": math.nan}, "number from 0 to 100"),
        (Job, {"progress": "50"}, "number from 0 to 100"),
        (Job, {"metadata": ["not", "a", "dict"]}, "must be a JSON object"),
        (Job, {"seed": -1}, "non-negative"),
        (Job, {"colour": "red"}, "has no field colour"),
        (Loop, {"format": "OGG"}, "format must be one of"),
        (Loop, {"duration": 0}, "positive number of seconds"),
        (Loop, {"duration": -3}, "positive number of seconds"),
        (Loop, {"duration": math.inf}, "positive number of seconds"),
        (Loop, {"status": "paused"}, "status must be one of"),
        (Track, {"duration": -1.0}, "non-negative"),
    ],
)
def test_bad_values_are_refused_on_create(session: Session, model: type, fields: dict, message: str) -> None:
    fields = dict(fields)
    if model is Track:
        fields["job_id"] = create_job(session).job_id
    elif model is Loop:
        fields = {"track_id": create_track(session).track_id, "duration": 60, **fields}
    repo = {Job: JobRepository, Track: TrackRepository, Loop: LoopRepository}[model](session)
    before = repo.count()
    with pytest.raises(ValueError, match=message):
        repo.create(**fields)
    assert repo.count() == before


def test_bad_values_are_refused_on_update(session: Session) -> None:
    job = create_job(session, metadata={"genre": "pop"})
    repo = JobRepository(session)
    for fields, message in (
        ({"status": "finished"}, "status must be one of"),
        ({"progress": 100.5}, "within 0-100"),
        ({"nonexistent": 1}, "has no field nonexistent"),
        ({"job_id": "other"}, "two different ids"),
    ):
        with pytest.raises(ValueError, match=message):
            repo.update(job.job_id, **fields)
    with pytest.raises(ValueError, match="status must be one of"):
        repo.update(job.job_id, progress=10, status="bogus")
    session.expire_all()
    stored = repo.get_by_id(job.job_id)
    assert (stored.status, stored.progress, stored.metadata_) == ("queued", 0, {"genre": "pop"})


def test_loop_format_is_case_insensitive(session: Session) -> None:
    assert create_loop(session, format="mp3").format == "MP3"


def test_database_checks_back_up_the_validators(session: Session) -> None:
    job = create_job(session)
    with pytest.raises(IntegrityError):
        with session.begin_nested():
            session.execute(text("UPDATE jobs SET progress = 150 WHERE job_id = :id"), {"id": job.job_id})
    with pytest.raises(IntegrityError):
        with session.begin_nested():
            session.execute(text("UPDATE jobs SET status = 'bogus' WHERE job_id = :id"), {"id": job.job_id})


@pytest.mark.parametrize("kind", ["track", "loop"])
def test_missing_parent_is_refused(session: Session, kind: str) -> None:
    with pytest.raises(ConstraintViolation, match="does not name an existing row") as raised:
        if kind == "track":
            TrackRepository(session).create(job_id="no-such-job", duration=1)
        else:
            LoopRepository(session).create(track_id="no-such-track", duration=1)
    assert isinstance(raised.value, ValueError) and isinstance(raised.value, IntegrityError)
    assert create_job(session).job_id  # the session is still usable


def _children_counts(session: Session) -> tuple[int, int]:
    return (
        session.scalar(text("SELECT count(*) FROM tracks")),
        session.scalar(text("SELECT count(*) FROM loops")),
    )


def test_orm_cascade_deletes_tracks_and_loops(session: Session) -> None:
    job = create_job(session)
    keep = create_loop(session)
    for _ in range(2):
        create_loop(session, track=create_track(session, job))
    assert _children_counts(session) == (3, 3)
    assert JobRepository(session).delete(job.job_id) is True
    assert _children_counts(session) == (1, 1)
    assert LoopRepository(session).get_by_id(keep.loop_id) is not None


def test_database_cascade_deletes_tracks_and_loops(session: Session) -> None:
    job = create_job(session)
    create_loop(session, track=create_track(session, job))
    create_loop(session, track=create_track(session, job))
    session.execute(text("DELETE FROM jobs WHERE job_id = :id"), {"id": job.job_id})
    assert _children_counts(session) == (0, 0)


def test_deleting_a_track_deletes_its_loops_only(session: Session) -> None:
    job = create_job(session)
    first, second = create_track(session, job), create_track(session, job)
    create_loop(session, track=first)
    create_loop(session, track=second)
    assert TrackRepository(session).delete(first.track_id) is True
    assert _children_counts(session) == (1, 1)
    assert JobRepository(session).get_by_id(job.job_id) is not None
