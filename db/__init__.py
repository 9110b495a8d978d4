"""Persistence of jobs, tracks and loops (see DATABASE.md)."""

from db.base import Base, UTCDateTime, utcnow
from db.models import ACTIVE_STATUSES, JOB_STATUSES, LOOP_FORMATS, LOOP_STATUSES, Job, Loop, Track, new_id
from db.repositories import (
    ConstraintViolation,
    JobRepository,
    LoopRepository,
    Repository,
    TrackRepository,
    WorkRepository,
)
from db.session import (
    create_db_engine,
    current_revision,
    get_database_url,
    get_engine,
    get_session,
    head_revision,
    init_database,
    init_db,
    schema_differences,
    session_scope,
)

__all__ = [
    "ACTIVE_STATUSES",
    "JOB_STATUSES",
    "LOOP_FORMATS",
    "LOOP_STATUSES",
    "Base",
    "ConstraintViolation",
    "Job",
    "JobRepository",
    "Loop",
    "LoopRepository",
    "Repository",
    "Track",
    "TrackRepository",
    "UTCDateTime",
    "WorkRepository",
    "create_db_engine",
    "current_revision",
    "get_database_url",
    "get_engine",
    "get_session",
    "head_revision",
    "init_database",
    "init_db",
    "new_id",
    "schema_differences",
    "session_scope",
    "utcnow",
]
