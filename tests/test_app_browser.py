"""The studio in headless Chromium: write lyrics, generate, watch progress, play, loop, find, search, delete.

Screenshots of each tab land in tests/artifacts/ (git-ignored) for people to look at.
"""

from __future__ import annotations

import re
import urllib.request
from pathlib import Path

import pytest

from tests.app_server import running_app
from tests.browser import ARTIFACTS, chromium_page

pytestmark = [pytest.mark.browser, pytest.mark.slow]

LYRICS = "[00:01.00]Paper boats on a silver stream\n[00:05.00]Carry every little dream\n"


def test_studio_flow_in_browser(tmp_path: Path) -> None:
    with running_app(f"sqlite:///{tmp_path / 'studio.db'}", tmp_path / "data") as url, chromium_page() as page:
        page.goto(url)
        page.locator("#lyrics textarea").wait_for()
        page.screenshot(path=str(ARTIFACTS / "generate-first-start.png"), full_page=True)

        # Live validation names the bad line before anything is queued.
        page.locator("#lyrics textarea").fill("[00:01.00]fine\n[00:75.00]not a time")
        page.locator("#lyrics-status").get_by_text("line 2").wait_for()
        page.locator("#lyrics textarea").fill(LYRICS)
        page.locator("#lyrics-status").get_by_text("Lyrics look good").wait_for()
        page.locator("#style-prompt textarea").fill("acoustic folk, warm guitar, soft vocals")
        duration = page.locator("#duration input[type=number]")
        duration.fill("12")
        duration.press("Enter")
        page.get_by_text("Advanced").click()
        steps = page.locator("#steps input[type=number]")
        steps.fill("12")
        steps.press("Enter")
        page.get_by_text("Title and tags").click()
        page.locator("#song-title textarea, #song-title input").first.fill("Paper Boats")

        page.locator("#generate-button").click()
        page.get_by_text(re.compile(r"Transformer pass \d+/\d+|Loading the model|Reading the style")).first.wait_for(
            timeout=60_000
        )
        page.screenshot(path=str(ARTIFACTS / "generate-progress.png"), full_page=True)
        page.locator("#generate-summary").get_by_text("Made 1 song(s)").wait_for(timeout=120_000)
        link = page.locator("a[href*='paper-boats.wav']").first.get_attribute("href", timeout=30_000)
        with urllib.request.urlopen(link if link.startswith("http") else url + link.lstrip("/")) as response:
            assert response.status == 200 and len(response.read()) > 1000  # the file behind player and download
        page.get_by_text("0:12", exact=True).filter(visible=True).first.wait_for()  # the player has loaded the song
        page.get_by_role("button", name="Play", exact=True).filter(visible=True).first.click()
        page.get_by_text(re.compile(r"^0:0[1-9]$")).filter(visible=True).first.wait_for(timeout=15_000)  # it plays
        page.screenshot(path=str(ARTIFACTS / "generate-result.png"), full_page=True)

        # "Make a loop of it" opens the Loops tab with the song chosen.
        page.locator("#to-loop").click()
        page.locator("#loop-button").wait_for()
        seconds = page.locator("#loop-seconds input")
        seconds.fill("20")
        seconds.press("Enter")
        page.locator("#loop-button").click()
        page.locator("#loop-summary").get_by_text(re.compile("Output: 20.00 s")).wait_for(timeout=120_000)
        page.screenshot(path=str(ARTIFACTS / "loops-result.png"), full_page=True)

        # Both are in the Library; search finds them; delete removes them.
        page.get_by_role("tab", name="Library").click()
        table = page.locator("#library-table")
        table.get_by_text("Paper Boats", exact=True).filter(visible=True).first.wait_for()
        table.get_by_text("loop", exact=True).filter(visible=True).first.wait_for()
        page.locator("#library-search textarea, #library-search input").first.fill("paper boats")
        page.locator("#library-search-button").click()
        page.locator("#library-summary").get_by_text("1 job").wait_for()
        table.get_by_text("Paper Boats", exact=True).filter(visible=True).first.wait_for()
        page.wait_for_timeout(500)
        page.screenshot(path=str(ARTIFACTS / "library.png"), full_page=True)
        table.get_by_text("Paper Boats", exact=True).filter(visible=True).first.click()
        page.locator("#library-details").get_by_role("heading", name="Paper Boats").wait_for()
        page.screenshot(path=str(ARTIFACTS / "library-details.png"), full_page=True)
        page.locator("#library-delete").click()
        page.locator("#library-confirm").click()
        page.locator("#library-summary").get_by_text(re.compile("No jobs match|library is empty")).wait_for()
        assert not any(p.is_file() for p in (tmp_path / "data").rglob("*"))

        page.get_by_role("tab", name="About").click()
        page.get_by_text("Licences").wait_for()
        page.screenshot(path=str(ARTIFACTS / "about.png"), full_page=True)
