"""Hostile calls through the real HTTP API: out-of-range parameters, server paths passed as uploads and
crafted upload names each get a clear error (or a safely named file) and change nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
import soundfile as sf
from gradio_client import Client
from gradio_client.exceptions import AppError

from tests.app_server import running_app
from tests.test_app_api import generate_args, loop_args, rows

pytestmark = pytest.mark.slow

GRADIO_GENERIC = "has not enabled verbose error reporting"  # what a caller sees for an unexplained exception
GENERATE_ORDER = (  # the positional order of /generate's parameters
    "lyrics",
    "style",
    "duration",
    "steps",
    "cfg",
    "seed",
    "random_seed",
    "variants",
    "file_format",
    "instrumental",
    "title",
    "artist",
    "album",
    "genre",
    "mood",
    "language",
    "style_audio",
    "edit_track_id",
    "edit_start",
    "edit_end",
)


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, Path]]:
    tmp = tmp_path_factory.mktemp("hostile-api")
    db_url, data = f"sqlite:///{tmp / 'studio.db'}", tmp / "data"
    with running_app(db_url, data) as url:
        yield url, db_url, data


def nothing_stored(db_url: str, data: Path) -> bool:
    return rows(db_url) == ([], [], []) and not any(p.is_file() for p in data.rglob("*"))


@pytest.mark.parametrize(
    ("api_name", "arguments", "message"),
    [
        ("/generate", generate_args(duration=-5), "less than minimum"),
        ("/generate", generate_args(duration=10**9), "greater than maximum"),
        ("/generate", generate_args(steps=10**9), "greater than maximum"),
        ("/generate", generate_args(steps=-1), "less than minimum"),
        ("/generate", generate_args(seed=-1), "less than minimum"),
        ("/generate", generate_args(seed=2**40), "greater than maximum"),
        ("/generate", generate_args(cfg=-1), "less than minimum"),
        ("/generate", generate_args(variants=100), "greater than maximum"),
        ("/generate", generate_args(file_format="exe"), "not in the list of choices"),
        ("/generate", generate_args(language="x" * 500), "not in the list of choices"),
        ("/generate", generate_args(title="a\x00b"), "control characters"),
        ("/generate", generate_args(style="folk " * 1000), "style prompt is 4999 characters"),
        ("/generate", generate_args(edit_track_id="../../etc/passwd", edit_start=0, edit_end=5), "To edit a song"),
        ("/make_loop", loop_args(duration=-3), "less than minimum"),
        ("/make_loop", loop_args(duration=10**9), "greater than maximum"),
        ("/make_loop", loop_args(fade_in=-1), "less than minimum"),
        ("/make_loop", loop_args(file_format="exe"), "not in the list of choices"),
        ("/make_loop", loop_args(track_id="'; DROP TABLE tracks; --"), "no longer in the library"),
        ("/library", {"search": "", "status": "bogus", "page": 1}, "status must be one of"),
        ("/delete", {"kind": "table", "item_id": "x"}, "kind must be job, track or loop"),
    ],
)
def test_out_of_range_parameters_get_a_clear_error(
    app: tuple[str, str, Path], api_name: str, arguments: dict[str, object], message: str
) -> None:
    url, db_url, data = app
    with pytest.raises(AppError) as raised:
        Client(url, verbose=False).predict(**arguments, api_name=api_name)
    assert message in str(raised.value) and GRADIO_GENERIC not in str(raised.value)
    assert nothing_stored(db_url, data)


def raw_call(url: str, api_name: str, data: list[object]) -> str:
    """POST the call and read its event stream: the last event's name ("complete" or "error") and data."""
    event = httpx.post(f"{url}gradio_api/call/{api_name}", json={"data": data}, timeout=30).json()["event_id"]
    stream = httpx.get(f"{url}gradio_api/call/{api_name}/{event}", timeout=120).text
    return stream.strip().split("event: ")[-1]


def file_data(path: str) -> dict[str, object]:
    return {"path": path, "meta": {"_type": "gradio.FileData"}}


def test_server_files_cannot_be_passed_as_uploads(app: tuple[str, str, Path], tmp_path: Path) -> None:
    """A caller names a file on the server instead of uploading one: Gradio must refuse to open it."""
    url, db_url, data = app
    outside = tmp_path / "someone-elses.wav"
    sf.write(outside, np.zeros((44100 * 3, 2), dtype=np.float32), 44100)
    song = generate_args(variants=1)
    for path in ["/etc/passwd", str(outside), db_url.removeprefix("sqlite:///"), "../../etc/passwd"]:
        loop = raw_call(url, "make_loop", [None, file_data(path), 30, 0, 0, "wav", "Upload a file"])
        styled = raw_call(url, "generate", [{**song, "style_audio": file_data(path)}[name] for name in GENERATE_ORDER])
        assert loop.startswith("error") and styled.startswith("error"), (path, loop, styled)
    assert nothing_stored(db_url, data)


def test_crafted_upload_names_stay_in_the_upload_folder(app: tuple[str, str, Path], tmp_path: Path) -> None:
    url, db_url, data = app
    wav = tmp_path / "real.wav"
    sf.write(wav, np.random.default_rng(0).uniform(-0.3, 0.3, (44100 * 6, 2)).astype(np.float32), 44100)
    names = ["../../etc/passwd", "a\x00b.wav", "/etc/cron.d/evil.wav", "..\\..\\x.wav", "<script>x</script>.wav"]
    for name in names:
        upload = httpx.post(f"{url}gradio_api/upload", files={"files": (name, b"not audio at all")}, timeout=30)
        (stored,) = upload.json()
        assert ".." not in Path(stored).parts and not stored.startswith("/etc"), stored
        assert raw_call(url, "make_loop", [None, file_data(stored), 30, 0, 0, "wav", "Upload a file"]).startswith(
            "error"
        )
    assert nothing_stored(db_url, data)

    upload = httpx.post(f"{url}gradio_api/upload", files={"files": ("../../../evil.wav", wav.read_bytes())})
    (stored,) = upload.json()
    answer = raw_call(url, "make_loop", [None, file_data(stored), 8, 0, 0, "wav", "Upload a file"])
    assert answer.startswith("complete"), answer
    jobs, tracks, loops = rows(db_url)
    files = sorted(p.relative_to(data) for p in data.rglob("*") if p.is_file())
    assert [job.job_type for job in jobs] == ["upload"] and len(tracks) == len(loops) == 1
    assert files == sorted([Path(tracks[0].file_path_wav), Path(loops[0].result_path)])
    assert all(len(f.parts) >= 3 and f.parts[0] == "jobs" and ".." not in f.parts for f in files)
