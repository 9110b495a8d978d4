"""Shared fixtures: every database test runs on SQLite (a file) and on the machine's PostgreSQL.

Each backend's database is created fresh for the test run and migrated once with Alembic; each test runs
inside a transaction that is rolled back afterwards (repositories' commits become savepoints), so tests
never see each other's rows. Tests that need real commits across connections use ``fresh_url``.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from db import create_db_engine, init_db

POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
BACKENDS = ("sqlite", "postgresql")


def _postgres_admin() -> Engine:
    return create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3})


def _postgres_unavailable() -> str | None:
    try:
        with _postgres_admin().connect() as connection:
            connection.execute(text("SELECT 1"))
    except OperationalError as error:
        return f"PostgreSQL not reachable at {make_url(POSTGRES_URL).render_as_string()}: {error.orig}"
    return None


@pytest.fixture(scope="session")
def postgres_skip_reason() -> str | None:
    return _postgres_unavailable()


class DatabaseFactory:
    """Makes empty databases of one backend and drops them at the end of the run."""

    def __init__(self, backend: str, tmp_dir: Path) -> None:
        self.backend = backend
        self.tmp_dir = tmp_dir
        self._created: list[str] = []

    def new_url(self) -> str:
        name = f"drs_test_{uuid.uuid4().hex[:12]}"
        if self.backend == "sqlite":
            return f"sqlite:///{self.tmp_dir / name}.db"
        with _postgres_admin().connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        self._created.append(name)
        return make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)

    def drop_all(self) -> None:
        if not self._created:
            return
        with _postgres_admin().connect() as connection:
            for name in self._created:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request: pytest.FixtureRequest, postgres_skip_reason: str | None) -> str:
    if request.param == "postgresql" and postgres_skip_reason:
        pytest.skip(postgres_skip_reason)
    return request.param


@pytest.fixture(scope="session")
def database_factory(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DatabaseFactory]:
    factory = DatabaseFactory(backend, tmp_path_factory.mktemp(f"db-{backend}"))
    yield factory
    factory.drop_all()


@pytest.fixture(scope="session")
def engine(database_factory: DatabaseFactory) -> Iterator[Engine]:
    """One migrated database per backend for the whole run."""
    engine = create_db_engine(database_factory.new_url())
    init_db(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    """A session whose commits are savepoints inside a transaction rolled back after the test."""
    connection = engine.connect()
    outer = connection.begin()
    session = Session(bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False)
    try:
        yield session
    finally:
        session.close()
        outer.rollback()
        connection.close()


@pytest.fixture
def fresh_url(database_factory: DatabaseFactory) -> str:
    """The URL of a new, empty database of the current backend (for tests that need real commits)."""
    return database_factory.new_url()
