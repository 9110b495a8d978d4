"""Access from outside: no file outside DATA_DIR through the app's routes, and --auth guards everything."""

from __future__ import annotations

import os
import re
import urllib.error
import urllib.request
from pathlib import Path

import gradio as gr
import httpx
import pytest
from gradio.routes import App
from gradio_client import Client
from sqlalchemy.orm import Session

from db import create_db_engine, init_db
from tests.app_server import ROOT, running_app
from tests.factories import create_job, create_track

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


# Gradio routes that answer without a login by design: the login page and its static assets, session
# plumbing that needs a random session hash or event id and returns no data, and the editor routes that only
# work with --vibe. Anything else must say 401 or 403.
PUBLIC_ROUTES = re.compile(
    r"^/(login|logout|favicon\.ico|theme\.css|robots\.txt|manifest\.json|pwa_icon.*|(static|assets|svelte)/.*"
    r"|gradio_api/(user|token|app_id|startup-events|theme\.css|runs|heartbeat/.*|stream/.*|reset|cancel"
    r"|custom_component/.*|(undo-)?vibe-.*)|monitoring/.*)?/?$"
)
PATH_PARAMETERS = {"api_name": "library", "size": "192", "url_path": "http://127.0.0.1/", "environment": "client"}


def every_route(file_path: Path) -> list[tuple[str, str]]:
    """(method, concrete URL path) of every route Gradio serves, taken from Gradio itself, not a list of ours."""

    def concrete(path: str) -> str:
        def value(match: re.Match[str]) -> str:
            name = match.group(1).split(":")[0]
            return str(file_path) if name in ("path", "path_or_url") else PATH_PARAMETERS.get(name, "x")

        return re.sub(r"\{([^}]+)\}", value, path)

    def walk(routes: list) -> list[tuple[str, str]]:  # noqa: ANN001 - Starlette routes and included routers
        found = []
        for route in routes:
            if hasattr(route, "path"):
                found += [(method, concrete(route.path)) for method in sorted(route.methods or ()) if method != "HEAD"]
            elif hasattr(route, "original_router"):
                found += walk(route.original_router.routes)
        return found

    return sorted(set(walk(App.create_app(gr.Blocks()).routes)))


def test_auth_refuses_every_route_and_leaks_nothing(tmp_path: Path) -> None:
    db_url, data = f"sqlite:///{tmp_path / 'studio.db'}", tmp_path / "data"
    song = data / "jobs" / "j1" / "private-song.wav"
    song.parent.mkdir(parents=True)
    song.write_bytes(b"RIFF-PRIVATE-AUDIO")
    engine = create_db_engine(db_url)
    init_db(engine)
    with Session(engine) as session:
        job = create_job(session, metadata={"title": "Private Midnight Song"}, lyrics="[00:01.00]secret words")
        create_track(session, job, file_path_wav="jobs/j1/private-song.wav")
    engine.dispose()
    routes = every_route(song)
    assert len(routes) > 40 and ("POST", "/gradio_api/queue/join") in routes
    # Gradio's login page embeds the API description (endpoint names and parameters), not data: not checked here.
    secrets = (b"Private Midnight", b"secret words", b"RIFF-PRIVATE", b"s3cret!", str(data).encode())
    with running_app(db_url, data, "--auth", "ada:s3cret!") as url:
        answers = {}
        for method, path in routes:
            with httpx.stream(method, url.rstrip("/") + path, json={} if method == "POST" else None, timeout=15) as r:
                body = next(r.iter_bytes(), b"")  # the first chunk: streams such as the heartbeat never end
            answers[(method, path)] = r.status_code
            assert not any(secret in body for secret in secrets), (method, path, body[:200])
            gone = path == "/openapi.json" and r.status_code == 404  # FastAPI's own schema is switched off
            if r.status_code not in (401, 403) and not gone:
                assert PUBLIC_ROUTES.match(path), (method, path, r.status_code)
        assert answers[("GET", "/config")] == answers[("POST", "/gradio_api/upload")] == 401
        assert answers[("GET", f"/gradio_api/file={song}")] == answers[("POST", "/gradio_api/call/library")] == 401
        assert answers[("GET", "/openapi.json")] == 404
        logged_in = httpx.Client(base_url=url)
        assert logged_in.post("login", data={"username": "ada", "password": "s3cret!"}).status_code == 200
        assert logged_in.get(f"gradio_api/file={song}").content == b"RIFF-PRIVATE-AUDIO"
