"""The Python examples in DATABASE.md run, in order, on SQLite and on PostgreSQL."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import db.session as db_session

DOC = Path(__file__).resolve().parent.parent / "DATABASE.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.DOTALL)


def test_the_document_has_examples_for_every_repository() -> None:
    code = "\n".join(python_blocks())
    for name in ("JobRepository", "TrackRepository", "LoopRepository", "session_scope", "init_database"):
        assert name in code


def test_examples_run(fresh_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setenv("DATABASE_URL", fresh_url)
    monkeypatch.setattr(db_session, "_engine", None)
    monkeypatch.setattr(db_session, "_session_factory", None)
    namespace: dict[str, object] = {}
    for block in python_blocks():
        exec(compile(block, str(DOC), "exec"), namespace)  # noqa: S102 - the document's own examples
    printed = capsys.readouterr().out
    assert "does not name an existing row of jobs" in printed
    assert "status must be one of" in printed
    db_session.get_engine().dispose()
