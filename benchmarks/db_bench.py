"""Library queries on 100,000 tracks, SQLite and PostgreSQL side by side.

    python benchmarks/db_bench.py [--tracks 100000] [--postgres-url URL] [--repeat 50]

Fills a fresh database per backend (jobs with two tracks each, through Alembic's schema), then times the
queries the app runs: the Library's first page as the service builds it (count + a page of jobs + their
tracks), the first page of tracks, and a status query. Prints the median and 95th percentile in
milliseconds and the ratio PostgreSQL / SQLite. The databases are deleted afterwards.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import create_engine, insert, text  # noqa: E402
from sqlalchemy.engine import Engine, make_url  # noqa: E402
from sqlalchemy.orm import Session, sessionmaker  # noqa: E402

from db import Job, JobRepository, Track, TrackRepository, create_db_engine, init_db  # noqa: E402
from diffrhythm_ui.service import LibraryService  # noqa: E402

DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
STATUSES = ("completed",) * 17 + ("failed", "cancelled", "interrupted")
T0 = datetime(2025, 1, 1, tzinfo=timezone.utc)


def fill(engine: Engine, tracks: int, batch: int = 5000) -> None:
    """Insert tracks // 2 jobs with two tracks each, spread over a year, in bulk."""
    jobs = tracks // 2
    with engine.begin() as connection:
        for start in range(0, jobs, batch):
            job_rows, track_rows = [], []
            for i in range(start, min(start + batch, jobs)):
                created = T0 + timedelta(seconds=i * 300)
                job_id = str(uuid.UUID(int=i + 1))
                job_rows.append(
                    dict(
                        job_id=job_id,
                        job_type="diffrhythm",
                        status=STATUSES[i % len(STATUSES)],
                        progress=100.0,
                        prompt=f"synthwave with warm pads, take {i}",
                        metadata={"genre": "synthwave", "title": f"Song {i}"},
                        file_manifest={},
                        seed=i,
                        duration=95.0,
                        created_at=created,
                        updated_at=created,
                    )
                )
                for v in range(2):
                    track_rows.append(
                        dict(
                            track_id=str(uuid.UUID(int=(i + 1) * 4 + v)),
                            job_id=job_id,
                            duration=95.0,
                            metadata={"variant": v},
                            seed=i * 2 + v,
                            created_at=created,
                            updated_at=created,
                        )
                    )
            connection.execute(insert(Job.__table__), job_rows)
            connection.execute(insert(Track.__table__), track_rows)
    with engine.begin() as connection:
        connection.execute(text("ANALYZE"))


def timed(fn: Callable[[], object], repeat: int) -> tuple[float, float]:
    fn()  # warm caches, as a running app has
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return statistics.median(samples), samples[int(0.95 * (len(samples) - 1))]


def measure(url: str, tracks: int, repeat: int) -> dict[str, tuple[float, float]]:
    engine = create_db_engine(url)
    init_db(engine)
    start = time.perf_counter()
    fill(engine, tracks)
    print(
        f"  {engine.dialect.name}: filled {tracks} tracks in {time.perf_counter() - start:.1f} s",
        file=sys.stderr,
    )
    factory = sessionmaker(bind=engine, expire_on_commit=False)
    library = LibraryService(factory)

    def with_session(query: Callable[[Session], object]) -> Callable[[], object]:
        def run() -> object:
            with factory() as session:
                return query(session)

        return run

    results = {
        "Library first page (count + 20 jobs + tracks)": timed(lambda: library.page(1, 20), repeat),
        "first page of tracks (20, newest first)": timed(
            with_session(lambda s: TrackRepository(s).get_all(20)), repeat
        ),
        "status query: 20 newest failed jobs": timed(
            with_session(lambda s: JobRepository(s).get_by_status("failed", limit=20)), repeat
        ),
        "status query: 20 newest completed jobs": timed(
            with_session(lambda s: JobRepository(s).get_by_status("completed", limit=20)), repeat
        ),
    }
    engine.dispose()
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracks", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=50)
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        sqlite = measure(f"sqlite:///{tmp}/bench.db", args.tracks, args.repeat)

    admin = create_engine(args.postgres_url, isolation_level="AUTOCOMMIT")
    name = f"drs_bench_{uuid.uuid4().hex[:8]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        postgres = measure(
            make_url(args.postgres_url).set(database=name).render_as_string(False), args.tracks, args.repeat
        )
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    print(f"\n{args.tracks:,} tracks, median / p95 of {args.repeat} runs, milliseconds")
    print(f"{'query':48} {'SQLite':>15} {'PostgreSQL':>15} {'PG/SQLite':>10}")
    for query, (sq_med, sq_p95) in sqlite.items():
        pg_med, pg_p95 = postgres[query]
        print(f"{query:48} {sq_med:7.2f} /{sq_p95:6.2f} {pg_med:7.2f} /{pg_p95:6.2f} {pg_med / sq_med:9.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
