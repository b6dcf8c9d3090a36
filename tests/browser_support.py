"""Debian's headless Chromium driven by Playwright (never a browser download), for browser tests.

`WEALTH_TEST_CHROMIUM` points at another binary; without one the tests skip locally and fail
in CI. Screenshots go under `WEALTH_TEST_ARTIFACTS` (default `test-artifacts/` at the root).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path(os.environ.get("WEALTH_TEST_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def artifacts(name: str) -> Path:
    """A folder for this suite's screenshots, created."""
    folder = Path(os.environ.get("WEALTH_TEST_ARTIFACTS") or ROOT / "test-artifacts") / name
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@contextmanager
def chromium() -> Iterator:  # type: ignore[type-arg]
    """A launched headless Chromium (Playwright's Browser)."""
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} is missing: install Debian's chromium (scripts/dev test does)"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def dagster_page(browser, timeout_ms: int) -> Iterator:  # type: ignore[no-untyped-def, type-arg]
    """A page of its own for the Dagster UI, 1440x900, waiting up to `timeout_ms`.

    The UI's first-visit newsletter dialog opens a second after a page loads, over whatever
    is being clicked then; it stays away once dismissed (what Skip stores).
    """
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    context.add_init_script("window.localStorage.setItem('communityNux', '\"1\"')")
    page = context.new_page()
    page.set_default_timeout(timeout_ms)
    try:
        yield page
    finally:
        context.close()
