"""ORM models: a Job makes Tracks, a Track has Loops.

The column that callers know as ``metadata`` is mapped to the Python attribute ``metadata_``, because
SQLAlchemy's declarative base reserves ``metadata`` for the table registry. Repositories translate the
keyword, so ``repo.create(metadata={...})`` works as the seed document shows; ``to_dict()`` uses column
names, so it says ``metadata`` too.
"""

from __future__ import annotations

import math
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    String,
    Text,
    func,
)
from sqlalchemy.ext.mutable import MutableDict
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from db.base import Base, UTCDateTime, utcnow

JOB_STATUSES = ("queued", "running", "completed", "failed", "cancelled", "interrupted")
LOOP_STATUSES = JOB_STATUSES
LOOP_FORMATS = ("MP3", "WAV", "FLAC")
ACTIVE_STATUSES = ("queued", "running")

# A JSON object column whose in-place changes (``job.metadata_["genre"] = ...``) are noticed by the session.
JSONDict = MutableDict.as_mutable(JSON())


def new_id() -> str:
    """A fresh UUID4 string, the primary key of every row."""
    return str(uuid.uuid4())


def _in_list(column: str, values: tuple[str, ...]) -> str:
    quoted = ", ".join(f"'{v}'" for v in values)
    return f"{column} IN ({quoted})"


def _check_choice(field: str, value: Any, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise ValueError(f"{field} must be one of {', '.join(allowed)}; got {value!r}")
    return value


def _check_progress(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        raise ValueError(f"progress must be a number from 0 to 100; got {value!r}")
    if not 0 <= value <= 100:
        raise ValueError(f"progress must be within 0-100; got {value}")
    return float(value)


def _check_json_object(field: str, value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValueError(f"{field} must be a JSON object (dict); got {type(value).__name__}")
    return value


def _check_non_negative(field: str, value: Any) -> Any:
    if value is not None and (isinstance(value, bool) or not value >= 0):
        raise ValueError(f"{field} must be a non-negative number; got {value!r}")
    return value


class TimestampMixin:
    """``created_at`` set on insert and ``updated_at`` on every update, both UTC and timezone-aware."""

    created_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), default=utcnow, server_default=func.now(), nullable=False
    )
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), default=utcnow, onupdate=utcnow, server_default=func.now(), nullable=False
    )

    @validates("created_at", "updated_at")
    def _validate_timestamp(self, key: str, value: Any) -> datetime:
        if not isinstance(value, datetime) or value.tzinfo is None:
            raise ValueError(f"{key} must be a timezone-aware datetime; got {value!r}")
        return value

    def to_dict(self) -> dict[str, Any]:
        """Column values keyed by column name (so the JSON column appears as ``metadata``)."""
        mapper = self.__mapper__  # type: ignore[attr-defined]
        return {attr.columns[0].name: getattr(self, attr.key) for attr in mapper.column_attrs}


class WorkMixin:
    """Who is doing a job or loop right now, for workers in other processes (README "Running on several GPUs").

    A worker claims a queued row (or one whose worker stopped sending heartbeats) by one conditional update,
    which raises ``attempts``; it refreshes ``heartbeat_at`` while it works and reads ``cancel_requested``,
    which any process may set; ``progress_note`` says what the current step is ("Transformer pass 5/31");
    ``payload`` holds everything a worker needs to run it (the request, with file paths inside ``DATA_DIR``).
    """

    payload: Mapped[dict[str, Any]] = mapped_column(JSONDict, nullable=False, default=dict, server_default="{}")
    attempts: Mapped[int] = mapped_column(nullable=False, default=0, server_default="0")
    worker: Mapped[str | None] = mapped_column(String(200))
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    cancel_requested: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False, server_default="0")
    progress_note: Mapped[str | None] = mapped_column(String(200))


class Job(WorkMixin, TimestampMixin, Base):
    """One request: a generation, an edit or a loop render, with what reproduces it."""

    __tablename__ = "jobs"

    job_id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    job_type: Mapped[str] = mapped_column(String(32), nullable=False, default="diffrhythm")
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="queued")
    progress: Mapped[float] = mapped_column(Float, nullable=False, default=0.0)
    prompt: Mapped[str | None] = mapped_column(Text)
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", JSONDict, nullable=False, default=dict)
    file_manifest: Mapped[dict[str, Any]] = mapped_column(JSONDict, nullable=False, default=dict)
    error: Mapped[str | None] = mapped_column(Text)
    # What reproduces a song (DESIGN.md "Persistence"); empty for jobs that are not generations.
    model_id: Mapped[str | None] = mapped_column(String(128))
    seed: Mapped[int | None] = mapped_column(BigInteger)
    steps: Mapped[int | None] = mapped_column()
    cfg_strength: Mapped[float | None] = mapped_column(Float)
    duration: Mapped[float | None] = mapped_column(Float)
    lyrics: Mapped[str | None] = mapped_column(Text)
    style_audio_sha256: Mapped[str | None] = mapped_column(String(64))

    tracks: Mapped[list[Track]] = relationship(
        back_populates="job", cascade="all, delete-orphan", passive_deletes=True, order_by="Track.created_at"
    )

    __table_args__ = (
        CheckConstraint(_in_list("status", JOB_STATUSES), name="status"),
        CheckConstraint("progress >= 0 AND progress <= 100", name="progress"),
        Index("ix_jobs_created_at", "created_at", "job_id"),
        Index("ix_jobs_status", "status", "created_at", "job_id"),
    )

    @validates("status")
    def _validate_status(self, _key: str, value: Any) -> str:
        return _check_choice("status", value, JOB_STATUSES)

    @validates("progress")
    def _validate_progress(self, _key: str, value: Any) -> float:
        return _check_progress(value)

    @validates("metadata_", "file_manifest")
    def _validate_json(self, key: str, value: Any) -> dict[str, Any]:
        return _check_json_object(key.rstrip("_"), value)

    @validates("duration", "steps", "seed", "cfg_strength")
    def _validate_numbers(self, key: str, value: Any) -> Any:
        return _check_non_negative(key, value)

    def __repr__(self) -> str:
        return f"Job(job_id={self.job_id!r}, job_type={self.job_type!r}, status={self.status!r})"


class Track(TimestampMixin, Base):
    """One audio file made by a job (a batch makes several, each with its own seed)."""

    __tablename__ = "tracks"

    track_id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.job_id", ondelete="CASCADE"), nullable=False, index=True)
    duration: Mapped[float | None] = mapped_column(Float)
    file_path_wav: Mapped[str | None] = mapped_column(Text)
    file_path_mp3: Mapped[str | None] = mapped_column(Text)
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", JSONDict, nullable=False, default=dict)
    seed: Mapped[int | None] = mapped_column(BigInteger)

    job: Mapped[Job] = relationship(back_populates="tracks")
    loops: Mapped[list[Loop]] = relationship(
        back_populates="track", cascade="all, delete-orphan", passive_deletes=True, order_by="Loop.created_at"
    )

    __table_args__ = (Index("ix_tracks_created_at", "created_at", "track_id"),)

    @validates("metadata_")
    def _validate_json(self, _key: str, value: Any) -> dict[str, Any]:
        return _check_json_object("metadata", value)

    @validates("duration", "seed")
    def _validate_numbers(self, key: str, value: Any) -> Any:
        return _check_non_negative(key, value)

    def __repr__(self) -> str:
        return f"Track(track_id={self.track_id!r}, job_id={self.job_id!r}, duration={self.duration!r})"


class Loop(WorkMixin, TimestampMixin, Base):
    """A track rendered as a seamless loop of a chosen duration."""

    __tablename__ = "loops"

    loop_id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    track_id: Mapped[str] = mapped_column(ForeignKey("tracks.track_id", ondelete="CASCADE"), nullable=False, index=True)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="queued")
    duration: Mapped[float] = mapped_column(Float, nullable=False)
    fade_in_out: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    format: Mapped[str] = mapped_column(String(8), nullable=False, default="WAV")
    progress: Mapped[float] = mapped_column(Float, nullable=False, default=0.0)
    error: Mapped[str | None] = mapped_column(Text)
    result_url: Mapped[str | None] = mapped_column(Text)
    result_path: Mapped[str | None] = mapped_column(Text)
    # Loop points, confidence and seam metrics of the rendered file (LOOP_SPEC.md "Report").
    report: Mapped[dict[str, Any]] = mapped_column(JSONDict, nullable=False, default=dict)

    track: Mapped[Track] = relationship(back_populates="loops")

    __table_args__ = (
        CheckConstraint(_in_list("status", LOOP_STATUSES), name="status"),
        CheckConstraint(_in_list("format", LOOP_FORMATS), name="format"),
        CheckConstraint("progress >= 0 AND progress <= 100", name="progress"),
        CheckConstraint("duration > 0", name="duration"),
        Index("ix_loops_created_at", "created_at", "loop_id"),
        Index("ix_loops_status", "status", "created_at", "loop_id"),
    )

    @validates("status")
    def _validate_status(self, _key: str, value: Any) -> str:
        return _check_choice("status", value, LOOP_STATUSES)

    @validates("format")
    def _validate_format(self, _key: str, value: Any) -> str:
        normalized = value.upper() if isinstance(value, str) else value
        return _check_choice("format", normalized, LOOP_FORMATS)

    @validates("progress")
    def _validate_progress(self, _key: str, value: Any) -> float:
        return _check_progress(value)

    @validates("duration")
    def _validate_duration(self, _key: str, value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < math.inf:
            raise ValueError(f"duration must be a positive number of seconds; got {value!r}")
        return float(value)

    @validates("report")
    def _validate_json(self, _key: str, value: Any) -> dict[str, Any]:
        return _check_json_object("report", value)

    def __repr__(self) -> str:
        return f"Loop(loop_id={self.loop_id!r}, track_id={self.track_id!r}, status={self.status!r})"
