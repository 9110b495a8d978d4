"""A crash in the middle of a job: after a restart the job is ``interrupted`` and nothing else changed."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from gradio_client import Client
from sqlalchemy.orm import Session

from db import JobRepository, LoopRepository, TrackRepository, create_db_engine
from tests.app_server import start_app, stop
from tests.test_app_api import generate_args, loop_args

pytestmark = pytest.mark.slow


def snapshot(db_url: str) -> list[tuple[str, str, str | None]]:
    """(id, status or kind, error or file) of every job, track and loop."""
    engine = create_db_engine(db_url)
    with Session(engine) as session:
        rows = [(j.job_id, j.status, j.error) for j in JobRepository(session).get_all(limit=None)]
        rows += [(t.track_id, "track", t.file_path_wav) for t in TrackRepository(session).get_all(limit=None)]
        rows += [
            (lp.loop_id, f"loop {lp.status}", lp.result_path) for lp in LoopRepository(session).get_all(limit=None)
        ]
    engine.dispose()
    return rows


def loop_rows(db_url: str) -> list[tuple[str, str, str | None]]:
    return [(i, kind.removeprefix("loop "), path) for i, kind, path in snapshot(db_url) if kind.startswith("loop ")]


def kill_once_running(process: subprocess.Popen, running: Callable[[], bool], settle_s: float) -> None:
    """Wait until the work is running, give it ``settle_s`` to be well inside (sampling, or rendering), then
    SIGKILL the app: no clean-up code runs."""
    deadline = time.monotonic() + 120
    while not running() and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(settle_s)
    process.kill()
    process.wait()


def test_kill_during_generation_then_restart(tmp_path: Path) -> None:
    db_url, data = f"sqlite:///{tmp_path / 'studio.db'}", tmp_path / "data"
    process, url = start_app(db_url, data)
    try:
        client = Client(url, verbose=False)
        done = client.predict(**generate_args(variants=1, file_format="wav"), api_name="/generate")[1]
        before = snapshot(db_url)
        files_before = sorted(p for p in data.rglob("*") if p.is_file())
        client.submit(**generate_args(duration=95, steps=60, variants=1), api_name="/generate")
        kill_once_running(process, lambda: any(status == "running" for _, status, _ in snapshot(db_url)), 1.0)
    finally:
        stop(process)
    crashed = [row for row in snapshot(db_url) if row[1] == "running"]
    assert len(crashed) == 1

    process, url = start_app(db_url, data)
    try:
        after = snapshot(db_url)
        interrupted = [row for row in after if row[0] == crashed[0][0]]
        assert interrupted[0][1] == "interrupted" and "stopped while this was running" in interrupted[0][2]
        assert [row for row in after if row[0] != crashed[0][0]] == before  # nothing else changed
        assert sorted(p for p in data.rglob("*") if p.is_file()) == files_before
        library = Client(url, verbose=False).predict("", "interrupted", 1, api_name="/library")
        assert [e["id"] for e in library["entries"]] == [crashed[0][0]]
        assert done["job_id"] != crashed[0][0]
    finally:
        stop(process)


def test_kill_during_loop_rendering_then_restart(tmp_path: Path) -> None:
    db_url, data = f"sqlite:///{tmp_path / 'studio.db'}", tmp_path / "data"
    process, url = start_app(db_url, data)
    try:
        client = Client(url, verbose=False)
        song = client.predict(**generate_args(variants=1, file_format="wav"), api_name="/generate")[1]
        before = snapshot(db_url)
        track_id = song["tracks"][0]["track_id"]
        client.submit(**loop_args(track_id=track_id, duration=4 * 3600, file_format="flac"), api_name="/make_loop")
        kill_once_running(process, lambda: any(status == "running" for _, status, _ in loop_rows(db_url)), 2.0)
    finally:
        stop(process)
    assert [status for _, status, _ in loop_rows(db_url)] == ["running"]
    process, url = start_app(db_url, data)
    try:
        assert [(status, path) for _, status, path in loop_rows(db_url)] == [("interrupted", None)]
        assert [row for row in snapshot(db_url) if not row[1].startswith("loop ")] == before
        leftovers = [p for p in data.rglob("*") if p.is_file() and (p.name.startswith(".") or p.suffix == ".flac")]
        assert leftovers == []  # the half-written loop is gone, nothing else was touched
    finally:
        stop(process)
