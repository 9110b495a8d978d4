"""Builders of rows for tests, so each test says only what matters to it."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from db import Job, JobRepository, Loop, LoopRepository, Track, TrackRepository


def create_job(session: Session, **fields: Any) -> Job:
    fields.setdefault("job_type", "diffrhythm")
    fields.setdefault("prompt", "Ambient music")
    return JobRepository(session).create(**fields)


def create_track(session: Session, job: Job | None = None, **fields: Any) -> Track:
    job = job or create_job(session)
    fields.setdefault("duration", 30.5)
    return TrackRepository(session).create(job_id=job.job_id, **fields)


def create_loop(session: Session, track: Track | None = None, **fields: Any) -> Loop:
    track = track or create_track(session)
    fields.setdefault("duration", 120)
    return LoopRepository(session).create(track_id=track.track_id, **fields)
