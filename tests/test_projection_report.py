"""The demo's weekly report with its projection, as a person sees it: the fan chart of the
next 30 years and the goal line, rendered by headless Chromium from `wealth report preview
--html` (the screenshot is kept: test-artifacts/projection/demo-report.png)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from tests.support.browser import artifacts
from wealth_pipeline.cli import main

CLOCK = "2026-10-30"  # the shipped ECB excerpt's last day: the demo's clock


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), prog_name="wealth")


@pytest.fixture
def demo(sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("WEALTH_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("WEALTH_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("WEALTH_ECB_FILE", raising=False)
    monkeypatch.delenv("WEALTH_SYNC_KEY_FILE", raising=False)
    monkeypatch.setenv("WEALTH_ARGON2_TIME_COST", "1")
    monkeypatch.setenv("WEALTH_ARGON2_MEMORY_KIB", "1024")
    monkeypatch.setenv("WEALTH_ARGON2_PARALLELISM", "1")
    setup = run("demo", "setup", "--days", "20")
    assert setup.exit_code == 0, setup.output
    assert "Projection: added goal Lake house" in setup.output
    assert "yearly spending 36000.00" in setup.output
    again = run("demo", "setup", "--days", "20")
    assert again.exit_code == 0 and "Projection: added" not in again.output
    return tmp_path


def test_the_demo_report_shows_the_fan_chart_and_the_goal_line(demo: Path, browser) -> None:
    html_file = demo / "demo-report.html"
    preview = run("report", "preview", "--user", "demo", "--text", "--html", str(html_file))
    assert preview.exit_code == 0, preview.output
    goal_line = re.search(r"Lake house: \d{1,3} % by June 2030; [^\n]+", preview.output)
    assert goal_line is not None, preview.output
    assert "WHERE THIS IS HEADING" in preview.output
    assert "25x rule:" in preview.output and "Monte Carlo:" in preview.output

    page = browser.new_page(viewport={"width": 720, "height": 1000})
    page.set_content(html_file.read_text(encoding="utf-8"), wait_until="load")
    shown = page.inner_text("body")
    assert "Where this is heading" in shown
    assert goal_line.group(0) in shown
    fan = page.eval_on_selector(
        "img[alt^='Projected net worth']", "i => [i.complete, i.naturalWidth]"
    )
    assert fan == [True, 1200]  # drawn at twice the 600 px it is shown at
    page.locator("text=Where this is heading").scroll_into_view_if_needed()
    screenshot = artifacts("projection") / "demo-report.png"
    page.screenshot(path=str(screenshot), full_page=True)
    page.close()  # and its context
    assert screenshot.read_bytes().startswith(b"\x89PNG")
