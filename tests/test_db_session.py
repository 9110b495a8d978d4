"""Engine settings, init_db and migrations, concurrency: on SQLite files and PostgreSQL."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import inspect, text
from sqlalchemy.orm import Session
from sqlalchemy.pool import QueuePool, StaticPool

import db.session as db_session
from db import (
    Base,
    JobRepository,
    TrackRepository,
    create_db_engine,
    current_revision,
    get_database_url,
    get_session,
    head_revision,
    init_database,
    init_db,
    schema_differences,
)
from db.session import alembic_config, normalize_url

ROOT = Path(__file__).resolve().parent.parent
EXPECTED_INDEXES = {
    "jobs": {"ix_jobs_status", "ix_jobs_created_at"},
    "tracks": {"ix_tracks_job_id", "ix_tracks_created_at"},
    "loops": {"ix_loops_track_id", "ix_loops_status", "ix_loops_created_at"},
}


# Settings (no database needed)


def test_database_url_from_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("DB_PATH", raising=False)
    assert get_database_url() == "sqlite:///app.db"
    monkeypatch.setenv("DB_PATH", str(tmp_path / "x" / "studio.db"))
    assert get_database_url() == f"sqlite:///{tmp_path}/x/studio.db"
    monkeypatch.setenv("DATABASE_URL", "postgres://u:p%40ss@db.example:5432/studio")
    assert get_database_url() == "postgresql+psycopg://u:p%40ss@db.example:5432/studio"


def test_plain_postgresql_urls_use_psycopg3() -> None:
    assert normalize_url("postgresql://u@h/d").drivername == "postgresql+psycopg"
    assert normalize_url("postgresql+psycopg://u@h/d").drivername == "postgresql+psycopg"


def test_sqlite_file_engine_settings(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "folder" / "app.db"
    engine = create_db_engine(f"sqlite:///{path}")
    assert path.parent.is_dir()
    assert isinstance(engine.pool, QueuePool) and not isinstance(engine.pool, StaticPool)
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 5000
    engine.dispose()


def test_sql_echo_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SQL_ECHO", "true")
    assert create_db_engine("sqlite://").echo is True
    monkeypatch.setenv("SQL_ECHO", "0")
    assert create_db_engine("sqlite://").echo is False


def test_in_memory_sqlite_is_shared_between_threads() -> None:
    engine = create_db_engine("sqlite://")
    init_db(engine)
    results: list[int] = []

    def write() -> None:
        with Session(engine) as session:
            JobRepository(session).create(prompt="from a thread")

    thread = threading.Thread(target=write)
    thread.start()
    thread.join()
    with Session(engine) as session:
        results.append(JobRepository(session).count())
    assert results == [1]


def test_init_database_and_get_session(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("DB_PATH", str(tmp_path / "app.db"))
    monkeypatch.setattr(db_session, "_engine", None)
    monkeypatch.setattr(db_session, "_session_factory", None)
    engine = init_database()
    session = get_session()
    job = JobRepository(session).create(prompt="x")
    session.close()
    assert job.prompt == "x"  # still readable after close: sessions do not expire on commit
    assert (tmp_path / "app.db").exists()
    engine.dispose()


# Migrations (both backends)


def test_init_db_is_idempotent_and_at_head(fresh_url: str) -> None:
    engine = create_db_engine(fresh_url)
    for _ in range(3):
        init_db(engine)
    assert current_revision(engine) == head_revision() is not None
    with engine.connect() as connection:
        assert schema_differences(connection) == []
        inspector = inspect(connection)
        for table, expected in EXPECTED_INDEXES.items():
            assert expected <= {ix["name"] for ix in inspector.get_indexes(table)}
        assert {fk["options"].get("ondelete") for fk in inspector.get_foreign_keys("loops")} == {"CASCADE"}
        assert {fk["options"].get("ondelete") for fk in inspector.get_foreign_keys("tracks")} == {"CASCADE"}
    engine.dispose()


def test_models_and_migrations_agree(engine) -> None:  # noqa: ANN001 - the session-wide migrated database
    with engine.connect() as connection:
        assert schema_differences(connection) == []


def test_downgrade_and_upgrade_again_keeps_working(fresh_url: str) -> None:
    engine = create_db_engine(fresh_url)
    init_db(engine)
    config = alembic_config(engine)
    command.downgrade(config, "base")
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    command.upgrade(config, "head")
    assert current_revision(engine) == head_revision()
    engine.dispose()


def test_a_library_from_revision_0001_is_upgraded_with_its_rows(fresh_url: str) -> None:
    """Rows written before the work columns existed keep their data and get the columns' defaults; neither
    the upgrade nor the downgrade loses a track or a loop."""
    engine = create_db_engine(fresh_url)
    config = alembic_config(engine)
    command.upgrade(config, "0001")
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO jobs (job_id, job_type, status, progress, metadata, file_manifest) "
                "VALUES ('old', 'generate', 'completed', 100, '{\"genre\": \"folk\"}', '{}')"
            )
        )
        connection.execute(text("INSERT INTO tracks (track_id, job_id, metadata) VALUES ('song', 'old', '{}')"))
        connection.execute(
            text(
                "INSERT INTO loops (loop_id, track_id, status, duration, fade_in_out, format, progress, report) "
                "VALUES ('loop', 'song', 'completed', 60, false, 'WAV', 100, '{}')"
            )
        )
    init_db(engine)
    assert current_revision(engine) == head_revision()
    with Session(engine) as session:
        job = JobRepository(session).get_by_id("old")
        assert (job.metadata_, job.payload, job.attempts, job.cancel_requested) == ({"genre": "folk"}, {}, 0, False)
        assert (job.worker, job.heartbeat_at, job.progress_note) == (None, None, None)
    with engine.connect() as connection:  # SQLite's table rebuilds must not cascade to the children
        counts = [connection.execute(text(f"SELECT count(*) FROM {t}")).scalar() for t in ("jobs", "tracks", "loops")]
    command.downgrade(config, "0001")
    assert "attempts" not in {c["name"] for c in inspect(engine).get_columns("jobs")}
    with engine.connect() as connection:
        after = [connection.execute(text(f"SELECT count(*) FROM {t}")).scalar() for t in ("jobs", "tracks", "loops")]
    assert counts == after == [1, 1, 1]
    engine.dispose()


def test_unversioned_database_matching_the_models_is_adopted(fresh_url: str) -> None:
    engine = create_db_engine(fresh_url)
    Base.metadata.create_all(engine)  # as an older release without Alembic did
    with Session(engine) as session:
        JobRepository(session).create(job_id="kept")
    init_db(engine)
    assert current_revision(engine) == head_revision()
    with Session(engine) as session:
        assert JobRepository(session).get_by_id("kept") is not None
    engine.dispose()


def test_unversioned_database_with_another_schema_is_refused(fresh_url: str) -> None:
    engine = create_db_engine(fresh_url)
    with engine.begin() as connection:
        for table in ("jobs", "tracks", "loops"):
            connection.execute(text(f"CREATE TABLE {table} (id INTEGER PRIMARY KEY)"))
    with pytest.raises(RuntimeError, match="schema differs"):
        init_db(engine)
    engine.dispose()


def test_two_processes_initialising_at_once(fresh_url: str) -> None:
    script = "import sys; from db import create_db_engine, init_db; init_db(create_db_engine(sys.argv[1]))"
    processes = [
        subprocess.Popen([sys.executable, "-c", script, fresh_url], cwd=ROOT, stderr=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    errors = [p.communicate(timeout=120)[1] for p in processes]
    assert [p.returncode for p in processes] == [0, 0, 0], errors
    engine = create_db_engine(fresh_url)
    assert current_revision(engine) == head_revision()
    engine.dispose()


def test_concurrent_writes_from_eight_threads(fresh_url: str) -> None:
    engine = create_db_engine(fresh_url)
    init_db(engine)
    with Session(engine) as session:
        shared_id = JobRepository(session).create(prompt="shared").job_id
    failures: list[BaseException] = []
    writes_per_thread = 25

    def worker(n: int) -> None:
        try:
            with Session(engine, expire_on_commit=False) as session:
                jobs, tracks = JobRepository(session), TrackRepository(session)
                for i in range(writes_per_thread):
                    mine = jobs.create(prompt=f"thread {n} job {i}", metadata={"thread": n})
                    jobs.update(mine.job_id, status="running", progress=50)
                    jobs.get_by_id(shared_id)  # a read between writes, as the UI does
                    jobs.update(shared_id, progress=(n * writes_per_thread + i) % 100)
                    tracks.create(job_id=mine.job_id, duration=float(i))
        except BaseException as error:  # noqa: BLE001 - collected and asserted below
            failures.append(error)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    with Session(engine) as session:
        assert JobRepository(session).count() == 1 + 8 * writes_per_thread
        assert TrackRepository(session).count() == 8 * writes_per_thread
        assert len(JobRepository(session).get_by_status("running", limit=None)) == 8 * writes_per_thread
    engine.dispose()


def test_db_command_line(fresh_url: str) -> None:
    def run(action: str) -> tuple[int, dict]:
        result = subprocess.run(
            [sys.executable, "-m", "diffrhythm_ui", "db", action, "--db-url", fresh_url],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        return result.returncode, json.loads(result.stdout) if result.stdout else {}

    code, report = run("current")
    assert code == 0 and report["current"] is None and report["head"] == head_revision()
    code, report = run("check")
    assert code == 1 and report["ok"] is False
    code, report = run("upgrade")
    assert code == 0 and report["current"] == report["head"]
    code, report = run("check")
    assert code == 0 and report == {**report, "ok": True, "differences": []}


def test_upgrading_a_database_with_data_keeps_it(fresh_url: str) -> None:
    engine = create_db_engine(fresh_url)
    init_db(engine)
    with Session(engine) as session:
        job = JobRepository(session).create(prompt="kept", metadata={"title": "夜色"})
        TrackRepository(session).create(job_id=job.job_id, duration=95.0)
        before = [(j.job_id, j.prompt, j.metadata_, j.created_at) for j in JobRepository(session).get_all()]
    result = subprocess.run(
        [sys.executable, "-m", "diffrhythm_ui", "db", "upgrade", "--db-url", fresh_url],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    init_db(engine)  # and the app's own start-up call
    with Session(engine) as session:
        after = [(j.job_id, j.prompt, j.metadata_, j.created_at) for j in JobRepository(session).get_all()]
        assert after == before and TrackRepository(session).count() == 1
    engine.dispose()
