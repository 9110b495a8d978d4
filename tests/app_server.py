"""Start ``python app.py`` as a real process on a free port, for HTTP and browser tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_app(db_url: str, data_dir: Path, *extra: str, timeout: float = 90) -> tuple[subprocess.Popen, str]:
    """Start the app and wait until it answers; its log is shown if it fails to start."""
    port = free_port()
    log_path = data_dir.parent / f"app-{port}.log"
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "DIFFRHYTHM_ENGINE": "tiny"}
    command = [sys.executable, "app.py", "--port", str(port), "--db-url", db_url, "--data-dir", str(data_dir), *extra]
    with open(log_path, "w") as log:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"app exited with {process.returncode}:\n{log_path.read_text()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return process, url
        except OSError:
            pass
        if time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"app did not start in {timeout} s:\n{log_path.read_text()}")
        time.sleep(0.3)


def start_worker(db_url: str, data_dir: Path, log_path: Path, *extra: str, timeout: float = 120) -> subprocess.Popen:
    """Start ``python -m diffrhythm_ui worker`` (tiny engine; BROKER_URL from the environment) and wait until
    Celery says it is ready."""
    env = {**os.environ, "DIFFRHYTHM_ENGINE": "tiny"}
    command = [sys.executable, "-m", "diffrhythm_ui", "worker", "--db-url", db_url, "--data-dir", str(data_dir), *extra]
    with open(log_path, "w") as log:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + timeout
    while " ready." not in log_path.read_text():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"worker did not start (exit {process.poll()}):\n{log_path.read_text()}")
        time.sleep(0.3)
    return process


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextmanager
def running_app(db_url: str, data_dir: Path, *extra: str, timeout: float = 90) -> Iterator[str]:
    """Yield the base URL of a started app; stop it afterwards."""
    process, url = start_app(db_url, data_dir, *extra, timeout=timeout)
    try:
        yield url
    finally:
        stop(process)
