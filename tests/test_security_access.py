"""Access from outside: no file outside DATA_DIR through the app's routes, and --auth guards everything."""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from pathlib import Path

import httpx
import pytest
from gradio_client import Client

from tests.app_server import ROOT, running_app

pytestmark = pytest.mark.slow


def status_of(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def test_file_routes_serve_only_the_data_folder(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("top secret")
    data = tmp_path / "data"
    with running_app(f"sqlite:///{tmp_path / 'studio.db'}", data) as url:
        (data / "jobs").mkdir(parents=True, exist_ok=True)
        (data / "jobs" / "song.wav").write_bytes(b"RIFF-not-really")
        os.symlink(secret, data / "jobs" / "link.wav")
        assert status_of(f"{url}gradio_api/file={data / 'jobs' / 'song.wav'}") == (200, b"RIFF-not-really")
        forged = [
            str(secret),
            "/etc/passwd",
            f"{data}/../secret.txt",
            f"{data}/jobs/../../secret.txt",
            "../../etc/passwd",
            "%2e%2e/%2e%2e/etc/passwd",
            "..%2f..%2fetc%2fpasswd",
            str(data / "jobs" / "link.wav"),  # a symlink inside the folder pointing out of it
            str(tmp_path / "studio.db"),
            str(ROOT / "app.py"),
        ]
        for path in forged:
            code, body = status_of(f"{url}gradio_api/file={path}")
            assert code in (403, 404), (path, code)
            assert b"top secret" not in body and b"root:" not in body


def test_auth_guards_every_route_and_endpoint(tmp_path: Path) -> None:
    with running_app(f"sqlite:///{tmp_path / 'studio.db'}", tmp_path / "data", "--auth", "ada:s3cret!") as url:
        for route in ("config", "gradio_api/info", "gradio_api/queue/status", "gradio_api/upload"):
            code, _ = status_of(url + route)
            assert code in (401, 403, 405), (route, code)
        with pytest.raises(Exception):  # noqa: B017 - any refusal will do; no API works without logging in
            Client(url, verbose=False).predict("", "All", 1, api_name="/library")
        with pytest.raises(Exception):  # noqa: B017
            Client(url, auth=("ada", "wrong"), verbose=False)
        result = Client(url, auth=("ada", "s3cret!"), verbose=False).predict("", "All", 1, api_name="/library")
        assert result["entries"] == []


def test_errors_reach_browsers_without_stack_traces(tmp_path: Path) -> None:
    with running_app(f"sqlite:///{tmp_path / 'studio.db'}", tmp_path / "data") as url:
        client = Client(url, verbose=False)
        answer = client.predict("track", "no-such-id'; DROP TABLE jobs;--", api_name="/delete")
        assert answer.startswith("No track")
        with pytest.raises(Exception) as raised:  # noqa: B017
            client.predict("; DROP TABLE jobs", "x", api_name="/delete")
        message = str(raised.value)
        assert "Traceback" not in message and 'File "' not in message
        assert client.predict("", "All", 1, api_name="/library")["entries"] == []  # the tables are still there


def test_uploads_over_the_limit_are_refused(tmp_path: Path) -> None:
    big = tmp_path / "huge.wav"
    with open(big, "wb") as handle:
        handle.truncate(201 * 1024 * 1024)  # just over the 200 MB limit (sparse on disk)
    data = tmp_path / "data"
    with running_app(f"sqlite:///{tmp_path / 'studio.db'}", data) as url:
        with open(big, "rb") as handle:
            response = httpx.post(f"{url}gradio_api/upload", files={"files": ("huge.wav", handle)}, timeout=120)
        assert response.status_code == 413 and "200" in response.text
        small = httpx.post(f"{url}gradio_api/upload", files={"files": ("ok.wav", b"RIFF")}, timeout=30)
        assert small.status_code == 200
    assert not any(p.is_file() for p in data.rglob("*"))  # uploads never land in the data folder by themselves
