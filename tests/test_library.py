"""The Library: service paging over the database, the /library endpoint over HTTP, the tab in a browser."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from gradio_client import Client
from sqlalchemy.orm import Session

from db import create_db_engine, init_db
from diffrhythm_ui.service import LibraryService
from tests.app_server import running_app
from tests.factories import create_job, create_track

T0 = datetime(2026, 3, 1, 9, 30, tzinfo=timezone.utc)


def _fill(session: Session, jobs: int) -> None:
    for i in range(jobs):
        job = create_job(
            session,
            job_id=f"job-{i:03d}",
            status="completed" if i % 5 else "failed",
            error=None if i % 5 else "CUDA out of memory",
            metadata={"title": f"Song {i}", "genre": "synthwave", "language": "en"},
            model_id="ASLP-lab/DiffRhythm-1_2",
            seed=1000 + i,
            duration=95.0,
            created_at=T0 + timedelta(minutes=i),
        )
        if i % 5:
            create_track(session, job, duration=95.0, seed=1000 + i, created_at=T0 + timedelta(minutes=i))


def _service(session: Session) -> LibraryService:
    return LibraryService(lambda: Session(bind=session.connection(), join_transaction_mode="create_savepoint"))


def test_empty_library(session: Session) -> None:
    page = _service(session).page()
    assert page.is_empty and page.entries == [] and page.pages == 1 and page.page == 1


def test_pages_are_newest_first_with_tracks_under_their_job(session: Session) -> None:
    _fill(session, 45)
    library = _service(session)
    first = library.page(1, page_size=20)
    assert (first.total_jobs, first.pages) == (45, 3)
    jobs = [e for e in first.entries if e.kind == "job"]
    assert [e.id for e in jobs] == [f"job-{i:03d}" for i in range(44, 24, -1)]
    assert first.entries[0].kind == "job" and first.entries[1].kind == "track"
    assert first.entries[1].job_id == "job-044" and first.entries[1].title == "Song 44"
    failed = next(e for e in jobs if e.status == "failed")
    assert failed.error == "CUDA out of memory"
    last = library.page(99, page_size=20)  # past the end: clamped to the last page
    assert last.page == 3 and [e.id for e in last.entries if e.kind == "job"][-1] == "job-000"
    with pytest.raises(ValueError):
        library.page(1, page_size=0)


def seeded_sqlite_url(path: Path, jobs: int = 25) -> str:
    """A migrated SQLite database at ``path`` holding ``jobs`` filled-in jobs."""
    url = f"sqlite:///{path}"
    engine = create_db_engine(url)
    init_db(engine)
    with Session(engine) as session:
        _fill(session, jobs)
    engine.dispose()
    return url


@pytest.fixture
def seeded_sqlite(tmp_path: Path) -> str:
    return seeded_sqlite_url(tmp_path / "library.db")


def test_library_endpoint_over_http(seeded_sqlite: str, tmp_path: Path) -> None:
    with running_app(seeded_sqlite, tmp_path / "data") as url:
        client = Client(url, verbose=False)
        result = client.predict("", "All", 2, api_name="/library")
        assert result["summary"] == "Page 2 of 2 · 25 jobs" and result["page"] == 2
        jobs = [e["id"] for e in result["entries"] if e["kind"] == "job"]
        assert jobs == [f"job-{i:03d}" for i in range(4, -1, -1)]
        assert client.predict("", "All", 7, api_name="/library")["page"] == 2  # clamped to the last page
        failed = client.predict("", "failed", 1, api_name="/library")
        assert failed["total_jobs"] == 5 and {e["status"] for e in failed["entries"]} == {"failed"}
        found = client.predict("song 13", "All", 1, api_name="/library")
        assert [e["id"] for e in found["entries"] if e["kind"] == "job"] == ["job-013"]
        assert client.predict("no such words", "All", 1, api_name="/library")["summary"] == "No jobs match this search."


def test_library_endpoint_on_an_empty_database(tmp_path: Path) -> None:
    with running_app(f"sqlite:///{tmp_path / 'empty.db'}", tmp_path / "data") as url:
        result = Client(url, verbose=False).predict("", "All", 1, api_name="/library")
    assert "Your library is empty" in result["summary"] and result["entries"] == []
    assert (tmp_path / "data").is_dir() and (tmp_path / "empty.db").exists()
