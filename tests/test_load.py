"""50 clients at once through gradio_client: every job completes with its rows and files, everyone sees
progress, and a full queue refuses extra jobs with a clear message. Timings are printed by the benchmark,
not asserted here."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest

from tests.app_server import ROOT

pytestmark = pytest.mark.slow


@pytest.mark.timeout(900)  # about two minutes on two cores; pyproject's 300 s default is too tight for slow CI
def test_fifty_clients_and_a_full_queue() -> None:
    run = subprocess.run(
        [sys.executable, "benchmarks/load_bench.py", "--clients", "50", "--queue-size", "2", "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1500,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    report = json.loads(run.stdout.strip().splitlines()[-1])
    load, full = report["load"], report["queue_full"]
    assert load["completed"] == 50 and load["failures"] == []
    assert load["clients_that_saw_progress"] == 50
    assert load["library_requests"] > 0
    database = load["database"]
    assert (database["jobs"], database["tracks"], database["loops"]) == (26, 26, 25)  # 1 + 25 songs, 25 loops
    assert database["not_completed"] == [] and database["rows_without_files"] == []
    assert full["refused"] >= 1 and all("Queue is full" in m for m in full["messages"])
    assert math.isfinite(full["slowest_refusal_s"])  # every refused job got its answer, none was left hanging
