"""Hostile input: fuzzed text in every field gets a clear error or is handled, and never changes anything."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine
from sqlalchemy.orm import sessionmaker

from db import JobRepository
from diffrhythm_ui.engine.engine import EngineSettings
from diffrhythm_ui.service import DataStore, JobService, LibraryQuery, LibraryService, LoopForm, SongForm

NASTY = st.sampled_from(
    [
        "",
        "\x00",
        "a\x00b",
        "<script>alert(1)</script>",
        "'; DROP TABLE jobs; --",
        "% _ \\ %%",
        "𝄞🎵" * 50,
        "\u202e\u200b\ufeff",
        "x" * 100_000,
        "[00:01.00]ok\n[00:02.00]\x07bell",
        "../../etc/passwd",
    ]
)
TEXT = st.one_of(NASTY, st.text(max_size=300))
FIELDS = ("lyrics", "style_prompt", "title", "artist", "album", "genre", "mood", "language")


@pytest.fixture
def services(engine: Engine, tmp_path: Path):  # noqa: ANN201 - (jobs, library, session factory)
    connection = engine.connect()
    outer = connection.begin()
    sessions = sessionmaker(bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False)
    store = DataStore(tmp_path / "data")
    yield JobService(sessions, EngineSettings(kind="tiny"), store), LibraryService(sessions, store), sessions
    outer.rollback()
    connection.close()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values=st.fixed_dictionaries({name: TEXT for name in FIELDS}))
def test_song_form_fuzz_is_refused_clearly_or_accepted(services, values: dict[str, str]) -> None:  # noqa: ANN001
    jobs, _, sessions = services
    form = SongForm(**values, duration=30, steps=2)
    try:
        checked, request = jobs.validate_song(form)
    except ValueError as error:  # LyricsError and StyleError are ValueErrors too
        assert str(error)
    else:
        for name in FIELDS:
            assert "\x00" not in getattr(checked, name)
        assert request.duration == 30
    with sessions() as session:
        assert JobRepository(session).count() == 0  # validation never writes


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=TEXT, status=st.one_of(st.none(), TEXT), genre=st.one_of(st.none(), TEXT), page=st.integers(-5, 10**6))
def test_library_search_fuzz_never_fails(services, text: str, status: str | None, genre: str | None, page: int) -> None:  # noqa: ANN001,E501
    _, library, _ = services
    try:
        result = library.page(max(page, 1), 20, LibraryQuery(text=text, status=status, genre=genre))
    except ValueError as error:
        assert "status must be one of" in str(error)
    else:
        assert result.entries == [] and result.page == 1


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"duration": -5}, "duration must be"),
        ({"duration": 0}, "duration must be"),
        ({"duration": math.inf}, "finite"),
        ({"duration": 10**9}, "duration must be"),
        ({"duration": 60, "format": "exe"}, "format must be"),
        ({"duration": 60, "track_id": None}, "choose a track"),
        ({"duration": 60, "track_id": "t", "upload": Path("/etc/passwd")}, "one of them"),
    ],
)
def test_loop_form_out_of_range(fields: dict, message: str) -> None:
    base = {"track_id": "t"} if "track_id" not in fields and "upload" not in fields else {}
    with pytest.raises(ValueError, match=message):
        LoopForm(**{**base, **fields}).checked()


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"duration": -1}, "duration must be"),
        ({"steps": 10**9}, "steps must be"),
        ({"seed": -1}, "seed must be"),
        ({"seed": 2**40}, "seed must be"),
        ({"format": "ogg"}, "format must be"),
        ({"variants": 0}, "variants must be"),
        ({"cfg_strength": math.nan}, "finite"),
        ({"style_prompt": "folk " * 1000}, "style prompt is 4999 characters"),
        ({"style_prompt": " \n "}, "style prompt is empty"),
    ],
)
def test_song_form_out_of_range(services, fields: dict, message: str) -> None:  # noqa: ANN001
    jobs, _, sessions = services
    form = SongForm(**{"lyrics": "[00:01.00]hi\n", "style_prompt": "folk", **fields})
    with pytest.raises(ValueError, match=message):
        jobs.validate_song(form)
    with sessions() as session:
        assert JobRepository(session).count() == 0


def test_uploads_that_are_not_usable_audio_change_nothing(services, tmp_path: Path) -> None:  # noqa: ANN001
    jobs, _, sessions = services
    cases = {
        "empty.wav": b"",
        "text.mp3": b"hello, not audio",
        "truncated.wav": b"RIFF\x24\x00\x00\x00WAVEfmt ",
        "..\\..\\evil.wav": b"RIFF",
    }
    for name, content in cases.items():
        path = tmp_path / name
        path.write_bytes(content)
        with pytest.raises(Exception) as raised:  # noqa: B017 - ServiceError or ValueError, checked below
            jobs.make_loop(LoopForm(duration=30, upload=path))
        assert "Traceback" not in str(raised.value) and str(raised.value)
    with sessions() as session:
        assert JobRepository(session).count() == 0
    assert not any(p.is_file() for p in jobs.store.root.rglob("*"))
