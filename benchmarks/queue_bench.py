"""Scale-out: jobs per minute with the work in the app, on one worker and on two, and the queue's cost per job.

    python benchmarks/queue_bench.py [--jobs 12] [--latency-jobs 5] [--threads 1] [--json]

Needs the machine's Redis (``TEST_REDIS_URL``, default redis://127.0.0.1:6379/0) and PostgreSQL
(``TEST_POSTGRES_URL``); a temporary database and queue are made for each set-up and removed afterwards. Each
set-up runs the same tiny-engine songs: ``--jobs`` submitted at once through gradio_client (throughput), then
``--latency-jobs`` one after another (time per job). Every engine process gets ``--threads`` CPU threads, so a
worker stands for one GPU; with more workers than free cores they compete for the CPU and the scaling says so.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gradio_client import Client  # noqa: E402

from tests.app_server import start_app, start_worker, stop  # noqa: E402
from tests.conftest import DatabaseFactory  # noqa: E402
from tests.test_app_api import generate_args  # noqa: E402

SONG = generate_args(lyrics="[00:01.00]Count the workers\n", duration=30, steps=8, variants=1, file_format="wav")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def run_setup(workers: int, jobs: int, latency_jobs: int, tmp: Path, database: DatabaseFactory) -> dict:
    """One set-up: ``workers`` 0 runs jobs in the app, otherwise on that many worker processes."""
    db_url, data = database.new_url(), tmp / f"data-{workers}"
    saved = dict(os.environ)
    if workers:
        os.environ.update(BROKER_URL=REDIS_URL, DIFFRHYTHM_QUEUE=f"bench-{uuid.uuid4().hex[:8]}")
    processes = [start_worker(db_url, data, tmp / f"worker-{workers}-{i}.log") for i in range(workers)]
    app, url = start_app(db_url, data)
    try:
        client = Client(url, verbose=False)
        client.predict(**SONG, api_name="/generate")  # warm up: the model is loaded everywhere before timing
        for _ in range(workers - 1):
            client.predict(**SONG, api_name="/generate")
        start = time.perf_counter()
        submitted = [client.submit(**SONG, api_name="/generate") for _ in range(jobs)]
        for job in submitted:
            job.result(timeout=900)
        throughput_s = time.perf_counter() - start
        latencies = []
        for _ in range(latency_jobs):
            begin = time.perf_counter()
            client.predict(**SONG, api_name="/generate")
            latencies.append(time.perf_counter() - begin)
        return {
            "workers": workers,
            "jobs": jobs,
            "seconds": round(throughput_s, 2),
            "jobs_per_minute": round(60 * jobs / throughput_s, 2),
            "median_job_s": round(statistics.median(latencies), 3),
        }
    finally:
        stop(app)
        for process in processes:
            stop(process)
        os.environ.clear()
        os.environ.update(saved)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=12)
    parser.add_argument("--latency-jobs", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1, help="CPU threads of each engine process")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    os.environ.update(OMP_NUM_THREADS=str(args.threads), DIFFRHYTHM_ENGINE="tiny")
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        database = DatabaseFactory("postgresql", tmp)
        try:
            results = [run_setup(n, args.jobs, args.latency_jobs, tmp, database) for n in (0, 1, 2)]
        finally:
            database.drop_all()
    in_app, one, two = results
    report = {
        "cpu_cores": os.cpu_count(),
        "threads_per_engine": args.threads,
        "setups": results,
        "two_workers_over_one": round(two["jobs_per_minute"] / one["jobs_per_minute"], 2),
        "one_worker_over_in_app": round(one["jobs_per_minute"] / in_app["jobs_per_minute"], 2),
        "queue_overhead_per_job_s": round(one["median_job_s"] - in_app["median_job_s"], 3),
        "queue_overhead_ratio": round(one["median_job_s"] / in_app["median_job_s"], 3),
    }
    if args.json:
        print(json.dumps(report))
        return 0
    print(
        f"Tiny engine, 30 s songs at 8 steps; {report['threads_per_engine']} thread(s) per engine process, "
        f"{report['cpu_cores']} CPU cores"
    )
    for setup, name in zip(results, ("in the app", "1 worker", "2 workers"), strict=True):
        print(
            f"  {name:<11} {setup['jobs']} jobs at once in {setup['seconds']:7.2f} s = "
            f"{setup['jobs_per_minute']:6.2f} jobs/min; one job alone {setup['median_job_s']:.3f} s (median)"
        )
    print(f"  2 workers / 1 worker throughput: {report['two_workers_over_one']}x")
    print(f"  1 worker / in the app throughput: {report['one_worker_over_in_app']}x")
    print(
        f"  queue overhead per job: {report['queue_overhead_per_job_s'] * 1000:.0f} ms "
        f"({report['queue_overhead_ratio']}x the in-app time of one job)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
