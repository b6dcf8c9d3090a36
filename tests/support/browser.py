"""Browser tests' plumbing: Debian's headless Chromium driven by Playwright (never a browser
download), one browser for the session, pages, and the server processes the pages talk to
(`wealth api`, `dagster dev`) started and always stopped.

`WEALTH_TEST_CHROMIUM` points at another binary; without one the tests skip locally and fail
in CI. Screenshots go under `WEALTH_TEST_ARTIFACTS` (default `test-artifacts/` at the root).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest

from tests.support.fakes.server import free_port
from tests.support.postgres import IN_CI

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
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
TIMEOUT_MS = 90_000  # the Dagster UI is a large single-page app; 2 shared cores render it slowly
# Argon2id as cheap as the settings allow: the processes started here derive keys too.
CHEAP_ARGON2_ENV = {
    "WEALTH_ARGON2_TIME_COST": "1",
    "WEALTH_ARGON2_MEMORY_KIB": "64",
    "WEALTH_ARGON2_PARALLELISM": "1",
}


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
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="session")
def browser() -> Iterator:  # type: ignore[type-arg]
    """One headless Chromium for the session (each test opens its own context)."""
    with chromium() as launched:
        yield launched


@pytest.fixture
def page(browser):  # type: ignore[no-untyped-def]
    """A page of a fresh context (1440 x 900), the Dagster UI's first-visit dialog dismissed."""
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    # The UI's newsletter dialog opens a second after a page loads, over whatever is being
    # clicked then; it stays away once dismissed (what Skip stores).
    context.add_init_script("window.localStorage.setItem('communityNux', '\"1\"')")
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    yield page
    context.close()


def answers(url: str) -> bool:
    """Whether `url` answers 200 now."""
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return answer.status == 200
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


def clean_env(**values: str) -> dict[str, str]:
    """This process's environment without WEALTH_* and DAGSTER_*, plus `values`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WEALTH_", "DAGSTER_"))}
    env.update(values)
    return env


@contextmanager
def running(
    args: Sequence[str],
    env: dict[str, str],
    *,
    ready: str,
    log: Path,
    timeout: float = 60,
    stop: signal.Signals = signal.SIGTERM,
) -> Iterator[subprocess.Popen]:
    """`args` (a command of the virtualenv) running in a process group of its own until the
    block ends, once `ready` answers 200; then `stop` to the group, SIGKILL to what is left.
    Fails with the log's tail when it exits or does not answer in time."""
    handle = log.open("wb")
    process = subprocess.Popen(
        [str(BIN / args[0]), *args[1:]],
        cwd=ROOT,
        env=env,
        stdout=handle,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + timeout
        while not answers(ready):
            if process.poll() is not None or time.monotonic() > deadline:
                handle.flush()
                pytest.fail(
                    f"`{' '.join(args)}` did not come up ({process.poll()}):\n"
                    + log.read_text(errors="replace")[-4000:]
                )
            time.sleep(0.3)
        yield process
    finally:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, stop)
        with suppress(subprocess.TimeoutExpired):
            process.wait(timeout=30)
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # its children too, whatever is left
        process.wait(timeout=10)
        handle.close()


@contextmanager
def wealth_api(home: Path, **env: str) -> Iterator[tuple[str, dict[str, str]]]:
    """`wealth api` on a free port of 127.0.0.1 with WEALTH_HOME `home` and `env` (besides
    cheap Argon2): its base URL and environment, once its schema answers."""
    port = free_port()
    environment = clean_env(
        WEALTH_HOME=str(home), WEALTH_API_PORT=str(port), **CHEAP_ARGON2_ENV, **env
    )
    url = f"http://127.0.0.1:{port}"
    with running(
        ["wealth", "api", "--host", "127.0.0.1", "--port", str(port)],
        environment,
        ready=f"{url}/api/schema",
        log=home / "api.log",
    ):
        yield url, environment
