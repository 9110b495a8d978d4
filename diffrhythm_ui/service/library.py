"""The Library: everything ever made, newest first, searchable, as plain data for the UI and the API."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from db import Job, JobRepository, Loop, Track, TrackRepository
from diffrhythm_ui.audio import AudioError, write_tags
from diffrhythm_ui.service.forms import SongForm
from diffrhythm_ui.service.storage import DataStore, StorageError

logger = logging.getLogger(__name__)

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 200
FILTER_KEYS = ("genre", "mood", "language")
EDITABLE_TAGS = ("title", "artist", "album", "genre", "mood")


@dataclass(frozen=True)
class LibraryQuery:
    text: str = ""
    status: str | None = None
    genre: str | None = None
    mood: str | None = None
    language: str | None = None

    def metadata(self) -> dict[str, str]:
        return {key: value for key in FILTER_KEYS if (value := getattr(self, key))}

    def cleaned(self) -> LibraryQuery:
        """Without control characters (PostgreSQL refuses NUL in text) and at most 200 characters a field."""

        def clean(value: str | None) -> str | None:
            return None if value is None else "".join(c for c in value if c.isprintable() or c == " ")[:200]

        return LibraryQuery(**{name: clean(getattr(self, name)) for name in ("text", "status", *FILTER_KEYS)})


@dataclass(frozen=True)
class LibraryEntry:
    """One line of the Library: a job, a track it made, or a loop of that track."""

    kind: str  # "job", "track" or "loop"
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
    path: str | None = None  # the playable file, relative to DATA_DIR
    track_id: str | None = None


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
        for key in ("track_name", "title"):
            if meta.get(key):
                return str(meta[key])
    if job.prompt:
        return job.prompt if len(job.prompt) <= 60 else job.prompt[:57] + "..."
    return "Untitled"


def _stamp(row: Job | Track | Loop) -> str:
    return row.created_at.isoformat(timespec="seconds")


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
        created_at=_stamp(job),
        error=job.error,
        metadata=dict(job.metadata_),
    )


def _playable(track: Track) -> str | None:
    return track.file_path_mp3 or track.metadata_.get("file_path_flac") or track.file_path_wav


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
        created_at=_stamp(track),
        metadata=dict(track.metadata_),
        path=_playable(track),
        track_id=track.track_id,
    )


def _loop_entry(job: Job, track: Track, loop: Loop) -> LibraryEntry:
    return LibraryEntry(
        kind="loop",
        id=loop.loop_id,
        job_id=job.job_id,
        title=f"{_title(job, track)} (loop)",
        status=loop.status,
        duration=loop.duration,
        model=None,
        seed=None,
        created_at=_stamp(loop),
        error=loop.error,
        metadata={"format": loop.format, "fade": loop.fade_in_out, **_loop_summary(loop.report)},
        path=loop.result_path,
        track_id=track.track_id,
    )


def _loop_summary(report: dict[str, Any]) -> dict[str, Any]:
    keys = ("loop_bars", "tempo_bpm", "confidence", "message")
    return {k: report[k] for k in keys if k in report}


class LibraryService:
    """Reads and edits the Library through the repositories; each call uses its own short session."""

    def __init__(self, session_factory: Callable[[], Session], store: DataStore | None = None) -> None:
        self._sessions = session_factory
        self.store = store

    def page(self, page: int = 1, page_size: int = DEFAULT_PAGE_SIZE, query: LibraryQuery | None = None) -> LibraryPage:
        """Jobs newest first, each followed by its tracks and their loops; ``page`` is 1-based and clamped."""
        if page_size < 1 or page_size > MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be between 1 and {MAX_PAGE_SIZE}; got {page_size}")
        query = (query or LibraryQuery()).cleaned()
        with self._sessions() as session:
            repo = JobRepository(session)
            search = dict(status=query.status or None, metadata=query.metadata())
            _, total = repo.search(query.text, **search, limit=0)
            last = max(1, math.ceil(total / page_size))
            page = min(max(1, int(page)), last)
            jobs, _ = repo.search(query.text, **search, limit=page_size, offset=(page - 1) * page_size)
            entries: list[LibraryEntry] = []
            for job in jobs:
                entries.append(_job_entry(job))
                for track in job.tracks:
                    entries.append(_track_entry(job, track))
                    entries.extend(_loop_entry(job, track, loop) for loop in track.loops)
        return LibraryPage(entries=entries, page=page, page_size=page_size, total_jobs=total)

    def filter_options(self) -> dict[str, list[str]]:
        with self._sessions() as session:
            repo = JobRepository(session)
            return {key: repo.distinct_metadata(key) for key in FILTER_KEYS}

    def file_path(self, entry: LibraryEntry) -> Path | None:
        """The absolute path of an entry's playable file, if it still exists inside DATA_DIR."""
        return self.store.existing_file(entry.path) if self.store is not None else None

    def track_choices(self, limit: int = 200) -> list[tuple[str, str]]:
        """(label, track_id) of the newest playable tracks, for the Loops tab's picker."""
        with self._sessions() as session:
            choices = []
            for track in TrackRepository(session).get_all(limit=limit):
                title = _title(track.job, track)
                minutes, seconds = divmod(round(track.duration or 0), 60)
                choices.append(
                    (f"{title} · {minutes}:{seconds:02d} · {track.created_at:%Y-%m-%d %H:%M}", track.track_id)
                )
            return choices

    def reuse_settings(self, job_id: str) -> SongForm | None:
        """The settings a generation job was made with, to fill the Generate tab again."""
        with self._sessions() as session:
            job = JobRepository(session).get_by_id(job_id)
            if job is None or job.job_type != "generate":
                return None
            meta = job.metadata_
            return SongForm(
                lyrics=job.lyrics or "",
                style_prompt=job.prompt or "",
                duration=job.duration or 95.0,
                steps=job.steps or 32,
                cfg_strength=job.cfg_strength if job.cfg_strength is not None else 4.0,
                seed=job.seed,
                variants=max(1, len(job.tracks)),
                format=meta.get("format", "wav"),
                instrumental=bool(meta.get("instrumental")),
                **{key: str(meta.get(key, "")) for key in ("title", "artist", "album", "genre", "mood")},
                language=str(meta.get("language", "en")),
            )

    def update_tags(self, job_id: str, tags: dict[str, str]) -> int:
        """Change a job's title, artist, album, genre or mood, in the database and in its tracks' files.

        Returns how many files were re-tagged."""
        clean = {k: " ".join(str(v).split())[:200] for k, v in tags.items() if k in EDITABLE_TAGS}
        with self._sessions() as session:
            repo = JobRepository(session)
            job = repo.get_by_id(job_id)
            if job is None:
                raise ValueError("That job is no longer in the library.")
            repo.update(job_id, metadata={**job.metadata_, **{k: v for k, v in clean.items()}})
            tracks = TrackRepository(session)
            retagged = 0
            for i, track in enumerate(job.tracks, start=1):
                name = clean.get("title") or track.metadata_.get("track_name")
                if clean.get("title") and len(job.tracks) > 1:
                    name = f"{clean['title']} (variant {i})"
                meta = {**track.metadata_, **{k: v for k, v in clean.items() if k != "title"}, "track_name": name}
                tracks.update(track.track_id, metadata=meta)
                file_tags = {"title": name, **{k: clean[k] for k in ("artist", "album", "genre") if k in clean}}
                retagged += self._retag(track, file_tags)
            return retagged

    def _retag(self, track: Track, tags: dict[str, str]) -> int:
        count = 0
        for relative in (track.file_path_wav, track.file_path_mp3, track.metadata_.get("file_path_flac")):
            if not relative or self.store is None:
                continue
            try:
                path = self.store.resolve(relative)
                write_tags(path, path.suffix.lstrip(".").lower(), tags)
                count += 1
            except (StorageError, AudioError, OSError) as error:
                logger.warning("Could not re-tag %s: %s", relative, error)
        return count

    def track_path(self, track_id: str) -> Path | None:
        """The lossless master of a library track, if it still exists inside DATA_DIR."""
        with self._sessions() as session:
            track = TrackRepository(session).get_by_id(track_id)
            relative = track.file_path_wav if track is not None else None
        return self.store.existing_file(relative) if self.store is not None else None
