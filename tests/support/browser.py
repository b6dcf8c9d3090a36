"""Browser tests' plumbing: Debian's headless Chromium driven by Playwright (never a browser
download), one browser for the session, pages, and the server processes the pages talk to
(`wealth api`, `dagster dev`) started and always stopped.

`WEALTH_TEST_CHROMIUM` points at another binary; without one the tests skip locally and fail
in CI. Screenshots go under `WEALTH_TEST_ARTIFACTS` (default `test-artifacts/` at the root).
"""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import pytest

from tests.support.api import PASSWORD, SECRET_KEY, build, populate
from tests.support.fakes.server import free_port
from tests.support.postgres import IN_CI
from wealth_pipeline.projection.goals import add_goal, update_settings
from wealth_pipeline.security.kdf import KdfParams, derive_auth_hash
from wealth_pipeline.warehouse.engine import dispose_engines, get_engine

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
CHEAP = KdfParams(time_cost=1, memory_kib=64, parallelism=1)


def artifacts(name: str) -> Path:
    """A folder for this suite's screenshots, created."""
    folder = Path(os.environ.get("WEALTH_TEST_ARTIFACTS") or ROOT / "test-artifacts") / name
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@contextmanager
def chromium() -> Iterator:
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
def browser() -> Iterator:
    """One headless Chromium for the session (each test opens its own context)."""
    with chromium() as launched:
        yield launched


@pytest.fixture
def page(browser):
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


@dataclass
class Server:
    """A running `wealth api`: its URL and environment, the fixed warehouse's ids, a client."""

    url: str
    env: dict[str, str]
    ids: object
    api_token: str = ""
    cache: dict[str, dict] = field(default_factory=dict)

    def link(self) -> str:
        made = subprocess.run(
            [str(BIN / "wealth"), "dashboard", "link", "--user", "alice", "--password-env", "PW",
             "--base-url", self.url],
            env={**self.env, "PW": PASSWORD},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert made.returncode == 0, made.stderr
        assert PASSWORD not in made.stdout + made.stderr
        return made.stdout.strip()

    def get(self, path: str) -> dict:
        """What the API itself answers (a client that logs in with the auth hash)."""
        if path not in self.cache:
            request = urllib.request.Request(
                self.url + path, headers={"Authorization": f"Bearer {self.api_token}"}
            )
            with urllib.request.urlopen(request, timeout=30) as answer:
                self.cache[path] = json.load(answer)
        return self.cache[path]


def _post(url: str, body: dict) -> dict:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.load(answer)


@pytest.fixture(scope="session")
def api_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """`wealth api` (a real process) over the API tests' fixed warehouse with its marts, a
    goal and a spending figure; signed in as alice."""
    home = tmp_path_factory.mktemp("api-server-home")
    url = f"sqlite:///{home / 'warehouse.sqlite'}"
    engine = get_engine(url)
    ids = populate(engine, CHEAP)
    build(engine)
    with engine.begin() as connection:  # a goal and a spending figure for the projection page
        add_goal(connection, ids.alice, "House", "10000", date(2030, 6, 30), today=date.today())
        update_settings(
            connection, ids.alice, date.today(), yearly_spending="30000", birth_year=1985
        )
    dispose_engines()
    with wealth_api(home, WEALTH_DATABASE_URL=url, WEALTH_API_SECRET_KEY=SECRET_KEY) as (
        base,
        env,
    ):
        with urllib.request.urlopen(f"{base}/api/auth/salt/?username=alice", timeout=30) as a:
            salts = json.load(a)
        auth_hash = derive_auth_hash(
            PASSWORD, bytes.fromhex(salts["auth_salt"]), KdfParams.from_json(salts["kdf_params"])
        )
        login = _post(
            f"{base}/api/auth/login/",
            {"username": "alice", "auth_hash": base64.b64encode(auth_hash).decode()},
        )
        yield Server(base, env, ids, api_token=login["access"])
