"""Load on one app: many gradio_client clients at once, the queue holding them, the Library staying fast.

    python benchmarks/load_bench.py [--clients 50] [--queue-size 4] [--json]

Starts ``python app.py`` (tiny engine, temporary database and data folder) on loopback; half the clients ask
for a song, half for a loop of a song made first, all at the same moment. While they wait, another thread asks
for the Library's first page every 0.25 s. Then a second app with a small queue gets more jobs than it may
hold, and the refused ones must answer "queue full" at once. Prints jobs, failures, how many clients saw
progress, p50/p95 Library latency, the app's peak memory, and the rows and files left; ``--json`` prints the
same as JSON (the slow test reads it).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gradio_client import Client  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from db import JobRepository, LoopRepository, TrackRepository, create_db_engine  # noqa: E402
from tests.app_server import start_app, stop  # noqa: E402
from tests.test_app_api import generate_args, loop_args  # noqa: E402

SONG = generate_args(lyrics="[00:01.00]Load test, one two\n", duration=10, variants=1, file_format="wav")


def peak_memory_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def one_client(url: str, kind: str, track_id: str, results: list[dict], barrier: threading.Barrier) -> None:
    outcome: dict = {"kind": kind, "progress": 0, "ok": False, "error": None}
    try:
        client = Client(url, verbose=False)
        barrier.wait(timeout=120)
        if kind == "song":
            job = client.submit(**SONG, api_name="/generate")
        else:
            job = client.submit(**loop_args(track_id=track_id, duration=15, fade_out=1), api_name="/make_loop")
        deadline = time.monotonic() + 900
        while not job.done() and time.monotonic() < deadline:
            status = job.status()
            if status.progress_data:
                outcome["progress"] += 1
            time.sleep(0.05)
        job.result(timeout=60)
        outcome["ok"] = True
    except Exception as error:  # noqa: BLE001 - every failure is counted and reported
        outcome["error"] = f"{type(error).__name__}: {error}"[:300]
    results.append(outcome)


def library_latency(url: str, stop_event: threading.Event, samples: list[float]) -> None:
    client = Client(url, verbose=False)
    while not stop_event.is_set():
        start = time.perf_counter()
        client.predict("", "All", 1, api_name="/library")
        samples.append((time.perf_counter() - start) * 1000)
        time.sleep(0.25)


def counts(db_url: str, data: Path) -> dict:
    engine = create_db_engine(db_url)
    with Session(engine) as session:
        jobs = JobRepository(session).get_all(limit=None)
        tracks = TrackRepository(session).get_all(limit=None)
        loops = LoopRepository(session).get_all(limit=None)
        missing = [t.track_id for t in tracks if not (data / t.file_path_wav).is_file()]
        missing += [lp.loop_id for lp in loops if not lp.result_path or not (data / lp.result_path).is_file()]
        result = {
            "jobs": len(jobs),
            "tracks": len(tracks),
            "loops": len(loops),
            "not_completed": [j.status for j in jobs if j.status != "completed"]
            + [lp.status for lp in loops if lp.status != "completed"],
            "rows_without_files": missing,
        }
    engine.dispose()
    return result


def main_load(clients: int, tmp: Path) -> dict:
    db_url, data = f"sqlite:///{tmp / 'load.db'}", tmp / "data"
    process, url = start_app(db_url, data, "--queue-size", str(clients + 16))
    try:
        first = Client(url, verbose=False).predict(**SONG, api_name="/generate")[1]
        track_id = first["tracks"][0]["track_id"]
        results: list[dict] = []
        barrier = threading.Barrier(clients)
        threads = [
            threading.Thread(
                target=one_client, args=(url, "song" if i % 2 == 0 else "loop", track_id, results, barrier)
            )
            for i in range(clients)
        ]
        samples: list[float] = []
        stop_event = threading.Event()
        poller = threading.Thread(target=library_latency, args=(url, stop_event, samples))
        start = time.perf_counter()
        for thread in threads:
            thread.start()
        poller.start()
        for thread in threads:
            thread.join()
        stop_event.set()
        poller.join()
        elapsed = time.perf_counter() - start
        samples.sort()
        return {
            "clients": clients,
            "completed": sum(r["ok"] for r in results),
            "failures": [r["error"] for r in results if not r["ok"]],
            "clients_that_saw_progress": sum(r["progress"] > 0 for r in results),
            "seconds": round(elapsed, 1),
            "jobs_per_minute": round(60 * clients / elapsed, 1),
            "library_requests": len(samples),
            "library_p50_ms": round(statistics.median(samples), 1) if samples else None,
            "library_p95_ms": round(samples[int(0.95 * (len(samples) - 1))], 1) if samples else None,
            "peak_memory_mb": round(peak_memory_mb(process.pid), 1),
            "database": counts(db_url, data),
        }
    finally:
        stop(process)


def queue_full(queue_size: int, tmp: Path) -> dict:
    """More jobs than the queue holds: the extra ones must be refused quickly, not hang."""
    db_url, data = f"sqlite:///{tmp / 'full.db'}", tmp / "full-data"
    process, url = start_app(db_url, data, "--queue-size", str(queue_size))
    try:
        client = Client(url, verbose=False)
        long_song = {**SONG, "duration": 30, "steps": 8}
        jobs = [(time.perf_counter(), client.submit(**long_song, api_name="/generate")) for _ in range(queue_size + 4)]
        answered_s: dict[int, float] = {}  # seconds from submitting each job to its answer
        deadline = time.monotonic() + 600
        while len(answered_s) < len(jobs) and time.monotonic() < deadline:
            for i, (submitted, job) in enumerate(jobs):
                if i not in answered_s and job.done():
                    answered_s[i] = time.perf_counter() - submitted
            time.sleep(0.05)
        refused, messages, refusal_s = 0, set(), []
        for i, (_, job) in enumerate(jobs):
            try:
                job.result(timeout=60)
            except Exception as error:  # noqa: BLE001 - the refusal is what we measure
                refused += 1
                messages.add(str(error)[:120])
                refusal_s.append(answered_s.get(i, float("inf")))
        slowest = round(max(refusal_s), 2) if refusal_s else None
        return {"submitted": len(jobs), "refused": refused, "messages": sorted(messages), "slowest_refusal_s": slowest}
    finally:
        stop(process)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--queue-size", type=int, default=2)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        report = {"load": main_load(args.clients, Path(tmp)), "queue_full": queue_full(args.queue_size, Path(tmp))}
    if args.json:
        print(json.dumps(report))
        return 0
    load, full = report["load"], report["queue_full"]
    print(f"{load['clients']} clients (half songs, half loops), tiny engine, one app on loopback")
    print(
        f"  completed {load['completed']}, failures {len(load['failures'])}, "
        f"saw progress {load['clients_that_saw_progress']}"
    )
    print(f"  {load['seconds']} s in all, {load['jobs_per_minute']} jobs/min")
    print(
        f"  Library first page while the queue was full: p50 {load['library_p50_ms']} ms, "
        f"p95 {load['library_p95_ms']} ms over {load['library_requests']} requests (target: under 200 ms)"
    )
    print(f"  app peak memory {load['peak_memory_mb']} MB; rows and files: {load['database']}")
    print(
        f"queue of {args.queue_size}: {full['submitted']} submitted, {full['refused']} refused, the slowest refusal "
        f"{full['slowest_refusal_s']} s after submitting: {full['messages']}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
