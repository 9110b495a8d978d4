"""The app's public API through gradio_client on a real server (tiny engine, temporary database and data)."""

from __future__ import annotations

import re
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from sqlalchemy.orm import Session

from db import JobRepository, LoopRepository, TrackRepository, create_db_engine
from diffrhythm_ui.audio import read_tags
from tests.app_server import running_app

pytestmark = pytest.mark.slow

LYRICS = "[00:01.00]Morning light on the water\n[00:05.00]我们一起唱\n"


def generate_args(**overrides: object) -> dict[str, object]:
    """Keyword arguments of /generate (gradio_client matches them by name)."""
    values = dict(
        lyrics=LYRICS,
        style="acoustic folk, warm guitar",
        style_audio=None,
        duration=12,
        steps=2,
        cfg=4,
        seed=21,
        random_seed=False,
        variants=2,
        file_format="mp3",
        instrumental=False,
        title="River",
        artist="Ada",
        album="Demos",
        genre="folk",
        mood="calm",
        language="en",
        edit_track_id=None,
        edit_start=None,
        edit_end=None,
    )
    values.update(overrides)
    return values


def loop_args(**overrides: object) -> dict[str, object]:
    """Keyword arguments of /make_loop: a 30 s WAV loop of a library track (``track_id`` to be given)."""
    values = dict(
        track_id="no-such-track",
        upload=None,
        duration=30,
        fade_in=0,
        fade_out=0,
        file_format="wav",
        source="From the library",
    )
    values.update(overrides)
    return values


@pytest.fixture
def app(tmp_path: Path):  # noqa: ANN201 - (url, database url, data dir)
    db_url = f"sqlite:///{tmp_path / 'studio.db'}"
    with running_app(db_url, tmp_path / "data") as url:
        yield url, db_url, tmp_path / "data"


def rows(db_url: str) -> tuple[list, list, list]:
    engine = create_db_engine(db_url)
    with Session(engine) as session:
        result = (
            JobRepository(session).get_all(limit=None),
            TrackRepository(session).get_all(limit=None),
            LoopRepository(session).get_all(limit=None),
        )
    engine.dispose()
    return result


def test_generate_loop_library_delete(app: tuple[str, str, Path], tmp_path: Path) -> None:
    url, db_url, data = app
    client = Client(url, verbose=False)
    job = client.submit(**generate_args(), api_name="/generate")
    stages: list[str] = []
    while not job.done():
        status = job.status()
        if status.progress_data:
            stages.extend(p.desc or "" for p in status.progress_data)
        time.sleep(0.1)
    files, report = job.result()
    assert any(s.startswith("Transformer pass") for s in stages), stages
    assert [t["seed"] for t in report["tracks"]] == [21, 22]
    for path in files:
        info = sf.info(path)
        assert info.samplerate == 44100 and abs(info.frames / info.samplerate - 12) < 0.05
    jobs, tracks, _ = rows(db_url)
    assert [(j.status, j.progress, j.seed, j.steps, j.model_id) for j in jobs] == [
        ("completed", 100, 21, 2, "ASLP-lab/DiffRhythm-1_2 (tiny)")
    ]
    assert jobs[0].lyrics == LYRICS and jobs[0].metadata_["genre"] == "folk"
    assert len(tracks) == 2 and all(
        (data / t.file_path_wav).is_file() and (data / t.file_path_mp3).is_file() for t in tracks
    )
    assert read_tags(data / tracks[0].file_path_mp3)["artist"] == "Ada"

    track_id = report["tracks"][0]["track_id"]
    loop_file, loop_report = client.predict(track_id, None, 30, 0, 2, "flac", "From the library", api_name="/make_loop")
    assert abs(sf.info(loop_file).duration - 30) < 0.01 and loop_report["seams"]
    _, _, loops = rows(db_url)
    assert [(lp.status, lp.format, lp.track_id) for lp in loops] == [("completed", "FLAC", track_id)]
    assert (data / loops[0].result_path).is_file() and loops[0].report["loop_bars"] >= 1

    upload = tmp_path / "upload.wav"
    t = np.arange(44100 * 8) / 44100
    sf.write(upload, 0.4 * np.sin(2 * np.pi * 110 * t) * (np.sin(2 * np.pi * 2 * t) > 0), 44100)
    uploaded, _ = client.predict(
        None, handle_file(str(upload)), 20, 1, 1, "wav", "Upload a file", api_name="/make_loop"
    )
    assert abs(sf.info(uploaded).duration - 20) < 0.01

    library = client.predict("river", "All", 1, api_name="/library")
    assert [e["kind"] for e in library["entries"]] == ["job", "track", "loop", "track"]
    assert client.predict("", "completed", 1, api_name="/library")["total_jobs"] == 2  # the song and the upload

    assert client.predict("job", report["job_id"], api_name="/delete").startswith("Deleted job")
    jobs, tracks, loops = rows(db_url)
    assert [j.job_type for j in jobs] == ["upload"] and len(tracks) == 1 and len(loops) == 1
    remaining = sorted(p.relative_to(data).as_posix() for p in data.rglob("*") if p.is_file())
    assert remaining == sorted([tracks[0].file_path_wav, loops[0].result_path])


def test_bad_input_is_refused_and_changes_nothing(app: tuple[str, str, Path]) -> None:
    url, db_url, data = app
    client = Client(url, verbose=False)
    with pytest.raises(AppError, match="line 2"):
        client.predict(**generate_args(lyrics="[00:01.00]ok\n[00:70.00]late"), api_name="/generate")
    with pytest.raises(AppError, match="Write some lyrics"):
        client.predict(**generate_args(lyrics=""), api_name="/generate")
    with pytest.raises(AppError, match="greater than maximum|less than minimum"):
        client.predict(**generate_args(steps=10**9), api_name="/generate")
    with pytest.raises(AppError, match="no longer in the library"):
        client.predict("no-such-track", None, 30, 0, 0, "wav", "From the library", api_name="/make_loop")
    assert rows(db_url) == ([], [], [])
    assert not any(p.is_file() for p in data.rglob("*"))


def test_cancel_marks_the_job_cancelled(app: tuple[str, str, Path]) -> None:
    url, db_url, data = app
    client = Client(url, verbose=False)
    job = client.submit(**generate_args(duration=95, steps=40, variants=1), api_name="/generate")
    job_id = None
    deadline = time.monotonic() + 120
    while job_id is None and time.monotonic() < deadline:
        running = [j for j in rows(db_url)[0] if j.status == "running"]
        job_id = running[0].job_id if running else None
        time.sleep(0.2)
    assert job_id is not None
    assert client.predict(job_id, api_name="/cancel") is True
    with pytest.raises(AppError, match="cancelled"):
        job.result(timeout=120)
    jobs, tracks, _ = rows(db_url)
    assert [(j.job_id, j.status) for j in jobs] == [(job_id, "cancelled")] and tracks == []
    assert not any(p.is_file() for p in data.rglob("*"))


def test_readme_api_example_runs(app: tuple[str, str, Path], capsys: pytest.CaptureFixture) -> None:
    url, db_url, _ = app
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    (example,) = [b for b in re.findall(r"```python\n(.*?)```", readme, re.DOTALL) if "gradio_client" in b]
    example = example.replace('"http://127.0.0.1:7860/"', repr(url))
    example = example.replace("steps=32", "steps=12").replace("duration=600", "duration=30")  # CPU-sized
    exec(compile(example, "README.md", "exec"), {})  # noqa: S102 - the README's own example
    assert "Transformer pass" in capsys.readouterr().out
    assert rows(db_url) == ([], [], [])  # the example deletes what it made
