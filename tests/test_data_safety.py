"""Data safety: backups restore everything, and the app's sessions survive PostgreSQL dropping connections."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from db import JobRepository, LoopRepository, TrackRepository, create_db_engine, init_db
from tests.app_server import ROOT
from tests.factories import create_job, create_loop, create_track


def fill(url: str) -> list[tuple]:
    engine = create_db_engine(url)
    init_db(engine)
    with Session(engine, expire_on_commit=False) as session:
        for i in range(20):
            job = create_job(session, metadata={"title": f"Song {i}", "genre": "夜色"}, lyrics=f"[00:01.00]line {i}")
            create_loop(session, track=create_track(session, job, seed=i), duration=60 + i)
    snapshot = dump(engine)
    engine.dispose()
    return snapshot


def dump(engine) -> list[tuple]:  # noqa: ANN001
    with Session(engine) as session:
        jobs = [(j.job_id, j.metadata_, j.lyrics, j.created_at) for j in JobRepository(session).get_all(limit=None)]
        tracks = [(t.track_id, t.job_id, t.seed) for t in TrackRepository(session).get_all(limit=None)]
        loops = [(lp.loop_id, lp.track_id, lp.duration) for lp in LoopRepository(session).get_all(limit=None)]
    return [*jobs, *tracks, *loops]


def test_sqlite_online_backup_restores_everything(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'live.db'}"
    before = fill(url)
    source, target = sqlite3.connect(tmp_path / "live.db"), sqlite3.connect(tmp_path / "backup.db")
    source.backup(target)  # the online backup DATABASE.md documents; safe while the app writes
    source.close()
    target.close()
    restored = create_db_engine(f"sqlite:///{tmp_path / 'backup.db'}")
    init_db(restored)  # a restored database starts like any other
    assert dump(restored) == before and len(before) == 60
    restored.dispose()


def test_pg_dump_and_restore_round_trip(backend: str, fresh_url: str, database_factory) -> None:  # noqa: ANN001
    if backend != "postgresql":
        pytest.skip("pg_dump is for PostgreSQL")
    before = fill(fresh_url)
    plain = make_url(fresh_url).set(drivername="postgresql").render_as_string(hide_password=False)
    dump_file = database_factory.tmp_dir / "studio.dump"
    subprocess.run(["pg_dump", "--format=custom", f"--file={dump_file}", plain], check=True)
    target_url = database_factory.new_url()
    target_plain = make_url(target_url).set(drivername="postgresql").render_as_string(hide_password=False)
    subprocess.run(["pg_restore", "--no-owner", f"--dbname={target_plain}", str(dump_file)], check=True)
    restored = create_db_engine(target_url)
    init_db(restored)
    assert dump(restored) == before and len(before) == 60
    restored.dispose()


def test_sessions_survive_postgresql_dropping_connections(backend: str, fresh_url: str) -> None:
    if backend != "postgresql":
        pytest.skip("a PostgreSQL server restart")
    engine = create_db_engine(fresh_url)
    init_db(engine)
    with Session(engine) as session:
        JobRepository(session).create(prompt="before")
    name = make_url(fresh_url).database
    admin = create_db_engine(fresh_url.rsplit("/", 1)[0] + "/test")
    with admin.connect() as connection:  # what a server restart does to the app's pooled connections
        killed = connection.execute(
            text("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = :name"),
            {"name": name},
        ).scalar()
    assert killed >= 1
    with Session(engine) as session:  # pool_pre_ping replaces the dead connection
        JobRepository(session).create(prompt="after")
        assert JobRepository(session).count() == 2
    admin.dispose()
    engine.dispose()


WRITER = """
import sys
from sqlalchemy.orm import Session
from db import JobRepository, LoopRepository, TrackRepository, create_db_engine, session_scope
engine = create_db_engine(sys.argv[1])
print("ready", flush=True)
with Session(engine) as session:
    while True:
        with session_scope(session):
            job = JobRepository(session).create(prompt="x" * 2000)
            track = TrackRepository(session).create(job_id=job.job_id, duration=1.0)
            LoopRepository(session).create(track_id=track.track_id, duration=30)
"""


def test_kill_during_database_writes_leaves_whole_groups(fresh_url: str) -> None:
    engine = create_db_engine(fresh_url)
    init_db(engine)
    writer = subprocess.Popen([sys.executable, "-c", WRITER, fresh_url], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert writer.stdout.readline().strip() == "ready"
    time.sleep(1.5)
    writer.kill()  # SIGKILL in the middle of a transaction
    writer.wait()
    init_db(engine)  # the next start opens it as usual
    with Session(engine) as session:
        jobs = JobRepository(session).get_all(limit=None)
        assert len(jobs) > 5
        assert all(len(job.tracks) == 1 and len(job.tracks[0].loops) == 1 for job in jobs)  # all or nothing
        assert TrackRepository(session).count() == LoopRepository(session).count() == len(jobs)
        if engine.dialect.name == "sqlite":
            assert session.execute(text("PRAGMA integrity_check")).scalar() == "ok"
    engine.dispose()
