"""Engine, sessions and schema set-up.

Configuration comes from the environment (a CLI flag that passes a URL wins): ``DATABASE_URL``, else SQLite
at ``DB_PATH`` (default ``./app.db``); ``SQL_ECHO=1`` logs every statement.

SQLite notes. File databases run in WAL mode with a busy timeout and foreign keys on, on every connection,
under SQLAlchemy's ordinary queue pool, so Gradio's worker threads can read while one of them writes.
pysqlite's own transaction handling is turned off so that SQLAlchemy emits ``BEGIN`` itself: write
transactions begin with ``BEGIN IMMEDIATE`` (see ``begin_write``), which takes the write lock up front and
waits for it under the busy timeout, instead of failing with "database is locked" when a read transaction
tries to become a write one while another connection writes.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event, inspect, make_url, text
from sqlalchemy.engine import URL
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

from db.base import Base

logger = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
SQLITE_BUSY_TIMEOUT_S = 30
# Execution option that makes the SQLite ``begin`` listener emit BEGIN IMMEDIATE.
WRITE_OPTION = "diffrhythm_write"
# Key of the PostgreSQL advisory lock that serializes schema upgrades between processes.
MIGRATION_LOCK_KEY = 0x44526879  # "DRhy"
SCOPED = "diffrhythm_scoped"

_engine: Engine | None = None
_session_factory: sessionmaker[Session] | None = None


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


def normalize_url(url: str | URL) -> URL:
    """Parse a database URL, choosing psycopg 3 for PostgreSQL URLs that name no driver."""
    parsed = make_url(url)
    if parsed.drivername in {"postgres", "postgresql"}:
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def get_database_url() -> str:
    """``DATABASE_URL`` if set, else a SQLite file at ``DB_PATH`` (default ``./app.db``)."""
    url = os.environ.get("DATABASE_URL", "").strip()
    if url:
        return normalize_url(url).render_as_string(hide_password=False)
    path = Path(os.environ.get("DB_PATH", "./app.db")).expanduser()
    return f"sqlite:///{path}"


def is_sqlite_memory(url: URL) -> bool:
    return url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:")


def _json_serializer(value: Any) -> str:
    """JSON as UTF-8 text (not ``\\u`` escapes), so searching metadata finds non-ASCII titles."""
    return json.dumps(value, ensure_ascii=False)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # SQLAlchemy emits BEGIN itself, see module docstring
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_S * 1000}")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        immediate = connection.get_execution_options().get(WRITE_OPTION, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def create_db_engine(url: str | URL | None = None, *, echo: bool | None = None) -> Engine:
    """Create an engine for ``url`` (default: ``get_database_url()``) with the settings this app needs."""
    parsed = normalize_url(url or get_database_url())
    echo = _truthy(os.environ.get("SQL_ECHO")) if echo is None else echo
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        if is_sqlite_memory(parsed):
            # One shared in-memory database for every thread; only for quick use and tests.
            engine = create_engine(
                parsed,
                echo=echo,
                poolclass=StaticPool,
                connect_args={"check_same_thread": False},
                json_serializer=_json_serializer,
            )
        else:
            Path(parsed.database).expanduser().resolve().parent.mkdir(parents=True, exist_ok=True)
            engine = create_engine(
                parsed,
                echo=echo,
                pool_size=8,
                max_overflow=16,
                connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_S},
                json_serializer=_json_serializer,
            )
        _configure_sqlite(engine)
        return engine
    return create_engine(
        parsed, echo=echo, pool_pre_ping=True, pool_size=8, max_overflow=16, json_serializer=_json_serializer
    )


def alembic_config(engine: Engine | None = None) -> Config:
    """An Alembic config pointing at ``db/migrations`` wherever the process was started from."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if engine is not None:
        config.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False).replace("%", "%%"))
    return config


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    """The revision the database is stamped with, or None for a database without Alembic's table."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def schema_differences(connection: Connection) -> list[Any]:
    """What Alembic's autogenerate would change to make the database match the models (empty: in sync)."""
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return compare_metadata(context, Base.metadata)


def _upgrade_locked(connection: Connection, config: Config) -> None:
    """Bring the schema to head on a connection that holds the migration lock."""
    config.attributes["connection"] = connection
    tables = set(inspect(connection).get_table_names())
    if "alembic_version" not in tables and {"jobs", "tracks", "loops"} <= tables:
        # Created by an older release with ``create_all``: adopt it when it matches, never guess.
        differences = schema_differences(connection)
        if differences:
            raise RuntimeError(
                "The database has jobs/tracks/loops tables but no Alembic version and its schema differs "
                f"from the models: {differences}. Back it up, then migrate it by hand or start a new database."
            )
        logger.info("Adopting an unversioned database whose schema matches the models")
        command.stamp(config, "head")
        return
    command.upgrade(config, "head")


@contextmanager
def sqlite_foreign_keys_off(connection: Connection) -> Iterator[None]:
    """Foreign keys off on a SQLite connection while migrations run, then checked and back on.

    Alembic's batch mode rebuilds a SQLite table by dropping the old one, and with foreign keys on, that drop
    would cascade to every child row. The pragma works only outside a transaction, so it is set on the
    driver's connection before the migration's transaction begins. Elsewhere this does nothing."""
    if connection.dialect.name != "sqlite":
        yield
        return
    driver = connection.connection.dbapi_connection
    driver.execute("PRAGMA foreign_keys = OFF")
    try:
        yield
        broken = driver.execute("PRAGMA foreign_key_check").fetchall()
        if broken:
            raise RuntimeError(f"migration left rows whose parents are missing: {broken[:5]}")
    finally:
        driver.execute("PRAGMA foreign_keys = ON")


def init_db(engine: Engine) -> None:
    """Create or upgrade the schema to the newest Alembic revision.

    Idempotent, and safe when several processes start at once: PostgreSQL serializes them with an advisory
    lock and SQLite with ``BEGIN IMMEDIATE``; the second one finds the schema at head and does nothing.
    """
    config = alembic_config(engine)
    with engine.connect() as connection, sqlite_foreign_keys_off(connection):
        connection = connection.execution_options(**{WRITE_OPTION: True})
        with connection.begin():
            if engine.dialect.name == "postgresql":
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
            _upgrade_locked(connection, config)


def init_database(url: str | URL | None = None, *, echo: bool | None = None) -> Engine:
    """App start-up: create the engine, bring the schema to head and make ``get_session`` use it."""
    global _engine, _session_factory
    engine = create_db_engine(url, echo=echo)
    init_db(engine)
    if _engine is not None and _engine is not engine:
        _engine.dispose()
    _engine = engine
    _session_factory = sessionmaker(bind=engine, expire_on_commit=False)
    logger.info("Database ready at %s", engine.url.render_as_string(hide_password=True))
    return engine


def get_engine() -> Engine:
    """The engine set up by ``init_database`` (set up on first use from the environment)."""
    if _engine is None:
        init_database()
    assert _engine is not None
    return _engine


def get_session() -> Session:
    """A new session on the app's engine; the caller closes it (or uses ``session_scope``)."""
    get_engine()
    assert _session_factory is not None
    return _session_factory()


def begin_write(session: Session) -> None:
    """Start the session's transaction as a write transaction unless one is already open."""
    if not session.in_transaction():
        session.connection(execution_options={WRITE_OPTION: True})


@contextmanager
def session_scope(session: Session | None = None) -> Iterator[Session]:
    """One transaction for several repository calls: commit at the end, roll back on any error.

    Inside the scope, repositories flush instead of committing, so a Job, its Tracks and its Loops land
    together or not at all. A session passed in is used and left open; otherwise a new one is closed.
    """
    owned = session is None
    session = get_session() if session is None else session
    begin_write(session)
    session.info[SCOPED] = session.info.get(SCOPED, 0) + 1
    try:
        yield session
        if session.info[SCOPED] == 1:
            session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.info[SCOPED] -= 1
        if owned:
            session.close()
