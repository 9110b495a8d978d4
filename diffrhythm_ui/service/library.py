"""The Library: everything ever made, newest first, as plain data for the UI and the API."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from db import Job, JobRepository, Track

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 200


@dataclass(frozen=True)
class LibraryEntry:
    """One line of the Library: a job, or one of the tracks it made."""

    kind: str  # "job" or "track"
    id: str
    job_id: str
    title: str
    status: str
    duration: float | None
    model: str | None
    seed: int | None
    created_at: str  # ISO 8601, UTC
    error: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class LibraryPage:
    entries: list[LibraryEntry]
    page: int  # 1-based
    page_size: int
    total_jobs: int

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total_jobs / self.page_size))

    @property
    def is_empty(self) -> bool:
        return self.total_jobs == 0


def _title(job: Job, track: Track | None = None) -> str:
    for meta in ((track.metadata_ if track else {}), job.metadata_):
        for key in ("title", "track_name"):
            if meta.get(key):
                return str(meta[key])
    if job.prompt:
        return job.prompt if len(job.prompt) <= 60 else job.prompt[:57] + "..."
    return "Untitled"


def _job_entry(job: Job) -> LibraryEntry:
    return LibraryEntry(
        kind="job",
        id=job.job_id,
        job_id=job.job_id,
        title=_title(job),
        status=job.status,
        duration=job.duration,
        model=job.model_id,
        seed=job.seed,
        created_at=job.created_at.isoformat(timespec="seconds"),
        error=job.error,
        metadata=dict(job.metadata_),
    )


def _track_entry(job: Job, track: Track) -> LibraryEntry:
    return LibraryEntry(
        kind="track",
        id=track.track_id,
        job_id=job.job_id,
        title=_title(job, track),
        status=job.status,
        duration=track.duration,
        model=job.model_id,
        seed=track.seed if track.seed is not None else job.seed,
        created_at=track.created_at.isoformat(timespec="seconds"),
        metadata=dict(track.metadata_),
    )


class LibraryService:
    """Reads the Library through the repositories; each call uses its own short session."""

    def __init__(self, session_factory: Callable[[], Session]) -> None:
        self._session_factory = session_factory

    def page(self, page: int = 1, page_size: int = DEFAULT_PAGE_SIZE) -> LibraryPage:
        """Jobs newest first, each followed by its tracks; ``page`` is 1-based and clamped to the last page."""
        if page_size < 1 or page_size > MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be between 1 and {MAX_PAGE_SIZE}; got {page_size}")
        with self._session_factory() as session:
            repo = JobRepository(session)
            total = repo.count()
            last = max(1, math.ceil(total / page_size))
            page = min(max(1, int(page)), last)
            entries: list[LibraryEntry] = []
            for job in repo.get_all_with_tracks(limit=page_size, offset=(page - 1) * page_size):
                entries.append(_job_entry(job))
                entries.extend(_track_entry(job, track) for track in job.tracks)
        return LibraryPage(entries=entries, page=page, page_size=page_size, total_jobs=total)
