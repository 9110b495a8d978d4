"""The Library tab in a real browser: empty state, then a filled library and its pages."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.app_server import running_app
from tests.browser import ARTIFACTS, chromium_page
from tests.test_library import seeded_sqlite_url

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_empty_library_in_browser(tmp_path: Path) -> None:
    with running_app(f"sqlite:///{tmp_path / 'empty.db'}", tmp_path / "data") as url, chromium_page() as page:
        page.goto(url)
        page.get_by_role("tab", name="Library").click()
        summary = page.locator("#library-summary")
        summary.get_by_text("Your library is empty").wait_for()
        assert not page.locator("#library-table").is_visible()
        page.screenshot(path=str(ARTIFACTS / "library-empty.png"), full_page=True)


def test_library_pages_in_browser(tmp_path: Path) -> None:
    with running_app(seeded_sqlite_url(tmp_path / "filled.db"), tmp_path / "data") as base, chromium_page() as page:
        page.goto(base)
        page.get_by_role("tab", name="Library").click()
        page.locator("#library-summary").get_by_text("Page 1 of 2 · 25 jobs").wait_for()
        table = page.locator("#library-table")
        table.get_by_text("Song 24", exact=True).filter(visible=True).first.wait_for()
        page.screenshot(path=str(ARTIFACTS / "library-page-1.png"), full_page=True)
        page.get_by_role("button", name="Older →").click()
        page.locator("#library-summary").get_by_text("Page 2 of 2 · 25 jobs").wait_for()
        table.get_by_text("Song 0", exact=True).filter(visible=True).first.wait_for()
        table.get_by_text("CUDA out of memory", exact=False).filter(visible=True).first.wait_for()
        page.screenshot(path=str(ARTIFACTS / "library-page-2.png"), full_page=True)
