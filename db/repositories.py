"""Repositories: the only place the app reads and writes Job, Track and Loop rows.

Each repository wraps an injected ``Session``. Writes commit on their own, as the seed's examples expect,
except inside ``session_scope()``, where they only flush and the scope commits once. A failed write is
rolled back before the error propagates, so the session stays usable.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, Select, Text, and_, cast, func, or_, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, selectinload

from db.base import utcnow
from db.models import JOB_STATUSES, LOOP_STATUSES, Job, Loop, Track
from db.session import SCOPED, begin_write

ModelT = TypeVar("ModelT", Job, Track, Loop)
WorkT = TypeVar("WorkT", Job, Loop)
T = TypeVar("T")

# Keyword the callers use -> mapped attribute (``metadata`` is reserved by SQLAlchemy's declarative base).
FIELD_ALIASES = {"metadata": "metadata_"}


class ConstraintViolation(ValueError, IntegrityError):
    """The database refused a write: a missing parent row, a duplicate id or a failed check.

    Both a ``ValueError`` (bad input, as the repository contract says) and SQLAlchemy's ``IntegrityError``.
    """

    def __init__(self, message: str, error: IntegrityError) -> None:
        IntegrityError.__init__(self, error.statement, error.params, error.orig)
        self.message = message

    def __str__(self) -> str:
        return f"{self.message} ({self.orig})"


class Repository(Generic[ModelT]):
    """Create, read, update and delete for one model; subclasses add the queries the app needs."""

    model: type[ModelT]
    parent: tuple[str, str] | None = None  # (foreign key field, parent table), for clear error messages

    def __init__(self, session: Session) -> None:
        self.session = session

    # Helpers

    @property
    def _pk_name(self) -> str:
        return self.model.__mapper__.primary_key[0].key

    @property
    def _pk(self) -> Any:
        return getattr(self.model, self._pk_name)

    def _fields(self, fields: dict[str, Any]) -> dict[str, Any]:
        mapped = {FIELD_ALIASES.get(name, name): value for name, value in fields.items()}
        known = {attr.key for attr in self.model.__mapper__.column_attrs}
        unknown = sorted(set(mapped) - known)
        if unknown:
            names = sorted(FIELD_ALIASES.get(k, k) for k in known)
            allowed = ", ".join("metadata" if k == "metadata_" else k for k in names)
            raise ValueError(f"{self.model.__name__} has no field {', '.join(unknown)}; fields are: {allowed}")
        return mapped

    def _resolve_id(self, id_: str | None, fields: dict[str, Any]) -> str:
        """Accept the id positionally or by its field name, as in ``update(job_id="abc", ...)``."""
        named = fields.pop(self._pk_name, None)
        if id_ is None and named is None:
            raise ValueError(f"{self._pk_name} is required")
        if id_ is not None and named is not None and id_ != named:
            raise ValueError(f"two different ids given: {id_!r} and {named!r}")
        return id_ if id_ is not None else named

    @property
    def _scoped(self) -> bool:
        return bool(self.session.info.get(SCOPED))

    def _start_write(self) -> None:
        """Open a write transaction, first ending a read-only one left open by an earlier query.

        On SQLite a read transaction cannot safely become a write one while other connections write.
        """
        session = self.session
        if not self._scoped and session.in_transaction() and not (session.new or session.dirty or session.deleted):
            session.commit()
        begin_write(session)

    def _write(self, action: Callable[[], T]) -> T:
        """Run a write, then commit (or flush inside ``session_scope``); roll back if anything fails."""
        self._start_write()
        try:
            result = action()
            if self._scoped:
                self.session.flush()
            else:
                self.session.commit()
            return result
        except IntegrityError as error:
            self.session.rollback()
            raise ConstraintViolation(self._describe(error), error) from error
        except (SQLAlchemyError, ValueError, TypeError):
            self.session.rollback()
            raise

    def _describe(self, error: IntegrityError) -> str:
        text = str(error.orig).lower()
        if "foreign key" in text and self.parent is not None:
            field, table = self.parent
            return f"{self.model.__name__} refused: its {field} does not name an existing row of {table}"
        if "unique" in text or "duplicate" in text:
            return f"{self.model.__name__} refused: that {self._pk_name} already exists"
        return f"{self.model.__name__} refused by a database constraint"

    def _newest_first(self, statement: Select[tuple[ModelT]]) -> Select[tuple[ModelT]]:
        return statement.order_by(self.model.created_at.desc(), self._pk.desc())

    def _page(self, statement: Select[tuple[ModelT]], limit: int | None, offset: int) -> list[ModelT]:
        if limit is not None and limit < 0:
            raise ValueError(f"limit must be >= 0; got {limit}")
        if offset < 0:
            raise ValueError(f"offset must be >= 0; got {offset}")
        statement = statement.offset(offset)
        if limit is not None:
            statement = statement.limit(limit)
        return list(self.session.scalars(statement))

    def _where_newest_first(self, condition: ColumnElement[bool], limit: int | None, offset: int) -> list[ModelT]:
        return self._page(self._newest_first(select(self.model).where(condition)), limit, offset)

    # CRUD

    def create(self, **fields: Any) -> ModelT:
        """Insert a row; the id is generated when not given. Returns the persisted object."""
        values = self._fields(fields)

        def insert() -> ModelT:
            obj = self.model(**values)
            self.session.add(obj)
            return obj

        return self._write(insert)

    def get_by_id(self, id_: str | None = None, /, **by_name: str) -> ModelT | None:
        """The row with this id, or None."""
        return self.session.get(self.model, self._resolve_id(id_, dict(by_name)))

    def get_all(self, limit: int | None = 100, offset: int = 0) -> list[ModelT]:
        """A page of rows, newest first (ties broken by id, so pages never overlap)."""
        return self._page(self._newest_first(select(self.model)), limit, offset)

    def count(self) -> int:
        return self.session.scalar(select(func.count()).select_from(self.model)) or 0

    def update(self, id_: str | None = None, /, **fields: Any) -> ModelT | None:
        """Change fields of a row; None when the id does not exist; ValueError for unknown fields or bad values."""
        pk = self._resolve_id(id_, fields)
        values = self._fields(fields)
        if self._pk_name in values:
            raise ValueError(f"{self._pk_name} cannot be changed")

        def apply() -> ModelT | None:
            obj = self.session.get(self.model, pk)
            if obj is not None:
                for name, value in values.items():
                    setattr(obj, name, value)
            return obj

        return self._write(apply)

    def delete(self, id_: str | None = None, /, **by_name: str) -> bool:
        """Delete a row and, through the cascade, everything under it. False when the id does not exist."""
        pk = self._resolve_id(id_, dict(by_name))

        def remove() -> bool:
            obj = self.session.get(self.model, pk)
            if obj is not None:
                self.session.delete(obj)
            return obj is not None

        return self._write(remove)


class WorkRepository(Repository[WorkT]):
    """What workers in any process need to share a row safely: claim, heartbeat, cancel, ownership.

    Every change here is one conditional ``UPDATE``, so two workers racing for the same row cannot both win.
    """

    def _set_where(self, *conditions: ColumnElement[bool], **values: Any) -> int:
        """Update the row(s) matching ``conditions``; the number changed."""
        values.setdefault("updated_at", utcnow())
        statement = update(self.model).where(*conditions).values(**values).execution_options(synchronize_session=False)
        return self._write(lambda: self.session.execute(statement).rowcount)

    def claim(self, id_: str, worker: str, *, stale_before: datetime, max_attempts: int) -> bool:
        """Take a queued row, or a running one whose worker last sent a heartbeat before ``stale_before``.

        Counts the attempt. Refuses rows with a cancel request and rows that used up ``max_attempts``."""
        model = self.model
        now = utcnow()
        return (
            self._set_where(
                self._pk == id_,
                model.cancel_requested.is_(False),
                model.attempts < max_attempts,
                self._unheld(stale_before),
                status="running",
                attempts=model.attempts + 1,
                worker=worker,
                heartbeat_at=now,
                updated_at=now,
            )
            == 1
        )

    def heartbeat(self, id_: str, worker: str) -> bool | None:
        """Refresh the heartbeat of a row ``worker`` holds. Whether a cancel was requested; None if it lost it."""
        model = self.model
        statement = (
            update(model)
            .where(self._pk == id_, model.worker == worker, model.status == "running")
            .values(heartbeat_at=utcnow())
            .returning(model.cancel_requested)
            .execution_options(synchronize_session=False)
        )
        return self._write(lambda: self.session.execute(statement).scalar_one_or_none())

    def holds(self, id_: str, worker: str) -> bool:
        """Whether ``worker`` still holds the running row; locks it until the transaction ends (PostgreSQL), so
        a worker can record its results knowing no other worker took the row over meanwhile."""
        self._start_write()
        model = self.model
        statement = select(self._pk).where(self._pk == id_, model.worker == worker, model.status == "running")
        return self.session.scalar(statement.with_for_update()) is not None

    def update_held(self, id_: str, worker: str, **fields: Any) -> bool:
        """Change fields of a running row only while ``worker`` holds it; False when another worker took it."""
        model = self.model
        values = self._fields(fields)
        return bool(self._set_where(self._pk == id_, model.worker == worker, model.status == "running", **values))

    def stale_ids(self, stale_before: datetime) -> list[str]:
        """Running rows whose worker has sent no heartbeat since ``stale_before``."""
        statement = select(self._pk).where(self.model.status == "running", self._stale(stale_before))
        return list(self.session.scalars(statement))

    def waiting_ids(self, since_before: datetime) -> list[str]:
        """Queued rows unchanged since ``since_before``: their message may have been lost with the broker."""
        model = self.model
        statement = select(self._pk).where(model.status == "queued", model.updated_at < since_before)
        return list(self.session.scalars(statement))

    def touch_waiting(self, id_: str, since_before: datetime) -> bool:
        """Mark a long-queued row as sent again now (so that only one sweeper sends it, once per period)."""
        model = self.model
        return bool(self._set_where(self._pk == id_, model.status == "queued", model.updated_at < since_before))

    def _stale(self, stale_before: datetime) -> ColumnElement[bool]:
        """No heartbeat since ``stale_before`` (or none ever, as for rows from before workers existed)."""
        return or_(self.model.heartbeat_at.is_(None), self.model.heartbeat_at < stale_before)

    def _unheld(self, stale_before: datetime) -> ColumnElement[bool]:
        """Queued, or running for a worker that stopped sending heartbeats."""
        model = self.model
        return or_(model.status == "queued", and_(model.status == "running", self._stale(stale_before)))

    def requeue(self, id_: str, stale_before: datetime, max_attempts: int) -> bool:
        """Put a row whose worker stopped back in the queue, unless cancelled or out of attempts."""
        model = self.model
        return bool(
            self._set_where(
                self._pk == id_,
                model.status == "running",
                self._stale(stale_before),
                model.cancel_requested.is_(False),
                model.attempts < max_attempts,
                status="queued",
                worker=None,
                progress_note="Waiting for another worker (the last one stopped)",
            )
        )

    def end_unheld(self, id_: str, stale_before: datetime, **fields: Any) -> bool:
        """End a row no live worker holds (cancelled before it started, or given up on): False if one does."""
        return bool(self._set_where(self._pk == id_, self._unheld(stale_before), **self._fields(fields)))

    def request_cancel(self, id_: str, message: str) -> str | None:
        """Stop a row: one still queued is cancelled at once ("cancelled"); a running one is flagged for its
        worker, which stops between steps ("requested"). None when it is not queued or running."""
        model = self.model
        if self._set_where(self._pk == id_, model.status == "queued", status="cancelled", error=message):
            return "cancelled"
        if self._set_where(self._pk == id_, model.status == "running", cancel_requested=True):
            return "requested"
        return None

    def queued_before(self, id_: str) -> int:
        """How many queued rows were created before this one (its place in the queue, counting from 0)."""
        model = self.model
        created = select(model.created_at).where(self._pk == id_).scalar_subquery()
        statement = select(func.count()).select_from(model).where(model.status == "queued", model.created_at < created)
        return self.session.scalar(statement) or 0


class JobRepository(WorkRepository[Job]):
    model = Job

    def get_by_status(self, status: str, limit: int | None = 100, offset: int = 0) -> list[Job]:
        """Jobs with this status, newest first."""
        _require_status(status, JOB_STATUSES)
        return self._where_newest_first(Job.status == status, limit, offset)

    def get_all_with_tracks(self, limit: int | None = 100, offset: int = 0) -> list[Job]:
        """A page of jobs, newest first, with their tracks loaded in one extra query (the Library's view)."""
        statement = self._newest_first(select(Job).options(selectinload(Job.tracks)))
        return self._page(statement, limit, offset)

    def search(
        self,
        text: str = "",
        *,
        status: str | None = None,
        metadata: Mapping[str, str] | None = None,
        job_types: Sequence[str] | None = None,
        limit: int | None = 20,
        offset: int = 0,
    ) -> tuple[list[Job], int]:
        """Jobs matching every word of ``text`` (in title and other metadata, lyrics, prompt or id) and the
        filters (case-insensitive metadata values such as genre, mood, language), newest first, with tracks
        and loops loaded; and how many match in all."""
        conditions: list[ColumnElement[bool]] = []
        for word in text.split():
            pattern = "%" + word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            fields = (Job.prompt, Job.lyrics, cast(Job.metadata_, Text), Job.job_id)
            conditions.append(or_(*(field.ilike(pattern, escape="\\") for field in fields)))
        if status:
            _require_status(status, JOB_STATUSES)
            conditions.append(Job.status == status)
        for key, value in (metadata or {}).items():
            if value:
                conditions.append(func.lower(Job.metadata_[key].as_string()) == value.lower())
        if job_types:
            conditions.append(Job.job_type.in_(job_types))
        where = and_(True, *conditions)
        total = self.session.scalar(select(func.count()).select_from(Job).where(where)) or 0
        statement = select(Job).where(where).options(selectinload(Job.tracks).selectinload(Track.loops))
        return self._page(self._newest_first(statement), limit, offset), total

    def distinct_metadata(self, key: str, limit: int = 200) -> list[str]:
        """The values a metadata key takes across jobs (for filter menus), sorted."""
        value = Job.metadata_[key].as_string()
        rows = self.session.scalars(select(value).where(value.is_not(None)).distinct().limit(limit))
        return sorted({str(v) for v in rows if v})


class TrackRepository(Repository[Track]):
    model = Track
    parent = ("job_id", "jobs")

    def get_by_job_id(self, job_id: str) -> list[Track]:
        """The tracks of a job in the order they were made (variant 1, 2, ...)."""
        statement = select(Track).where(Track.job_id == job_id).order_by(Track.created_at, Track.track_id)
        return list(self.session.scalars(statement))


class LoopRepository(WorkRepository[Loop]):
    model = Loop
    parent = ("track_id", "tracks")

    def get_by_track_id(self, track_id: str) -> list[Loop]:
        """The loops made from a track, newest first."""
        return self._where_newest_first(Loop.track_id == track_id, None, 0)

    def get_by_status(self, status: str, limit: int | None = 100, offset: int = 0) -> list[Loop]:
        """Loops with this status, newest first."""
        _require_status(status, LOOP_STATUSES)
        return self._where_newest_first(Loop.status == status, limit, offset)


def _require_status(status: str, allowed: tuple[str, ...]) -> None:
    if status not in allowed:
        raise ValueError(f"status must be one of {', '.join(allowed)}; got {status!r}")
