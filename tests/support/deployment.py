"""A production-shaped Dagster deployment for the tests: the real `dagster-webserver` and
`dagster-daemon` processes, started as the README says (`-w workspace.yaml`, 127.0.0.1),
on an instance configured by a copy of `deploy/dagster.yaml` whose storage is a scratch
PostgreSQL database, with a scratch PostgreSQL warehouse.

Configuration that only tests need comes through the documented environment variables: the
ECB refresh ticks every minute (`WEALTH_FX_REFRESH_CRON`), sensors every few seconds
(`WEALTH_SENSOR_INTERVAL_SECONDS`), rates from an ECB file that covers the recent days, served
over HTTP as the ECB serves it (`WEALTH_ECB_FILE=http://...`). In the instance's copy of
deploy/dagster.yaml only run monitoring polls faster (5 s instead of 60 s, slots of crashed
runs freed after 5 s instead of 300 s), so the crash drill fits in the test's time.
The processes are always killed (their whole process group), and their logs are attached
to every timeout.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import pytest
import yaml
from sqlalchemy import Engine

from tests.support import factories
from tests.support.data import ECB_SAMPLE
from tests.support.fakes.server import free_port
from tests.support.fakes.static import Response, StaticServer
from tests.support.postgres import scratch_database, with_driver
from wealth_pipeline.fx.calendar import no_publication_reason
from wealth_pipeline.snapshots.store import NewSnapshot, StoredSnapshot, write_snapshots

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
DEPLOY_DAGSTER_YAML = ROOT / "deploy" / "dagster.yaml"
WORKSPACE = ROOT / "workspace.yaml"
BERLIN = ZoneInfo("Europe/Berlin")
RECENT_DAYS = 21  # business days added to the ECB file up to today (the refresh looks back 7)
SENSOR_INTERVAL_SECONDS = 5
MONITORING_SECONDS = 5  # run monitoring's poll and slot release in the tests' instance
ECB_PATH = "/stats/eurofxref/eurofxref-hist.csv"

T = TypeVar("T")


def berlin_today() -> date:
    return datetime.now(BERLIN).date()


def recent_business_days(count: int, until: date) -> list[date]:
    days: list[date] = []
    day = until
    while len(days) < count:
        if no_publication_reason(day) is None:
            days.append(day)
        day -= timedelta(days=1)
    return days


def write_recent_ecb_file(path: Path, until: date) -> dict[date, dict[str, str]]:
    """The ECB sample plus the last RECENT_DAYS business days up to `until`, newest first.

    The recent days repeat the sample's newest published row: test data in the ECB's own
    format, so the schedule's window (the last 7 days) is always covered.
    """
    with ECB_SAMPLE.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    header, body = rows[0], rows[1:]
    newest = body[0]
    recent = [
        d for d in recent_business_days(RECENT_DAYS, until) if d > date.fromisoformat(newest[0])
    ]
    added = [[d.isoformat(), *newest[1:]] for d in recent]
    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows([header, *added, *body])
    return {
        d: {
            code: value
            for code, value in zip(header[1:], newest[1:], strict=True)
            if code and value != "N/A"
        }
        for d in recent
    }


def add_waiting_snapshot(
    engine: Engine, username: str, day: date, balance: str, account_name: str
) -> StoredSnapshot:
    """A user (base EUR) with a manual USD account and one snapshot on `day`, unconverted
    while no USD rate is loaded for it."""
    with engine.begin() as connection:
        owner = factories.user(connection, username, "EUR")
        account_id = factories.account(
            connection, owner, "manual", account_name, kind="savings", currency="USD"
        )
        [stored] = write_snapshots(
            connection,
            account_id,
            [NewSnapshot(day=day, balance=Decimal(balance), currency="USD")],
            source="manual",
        )
    return stored


def graphql_request(url: str, query: str, variables: dict[str, Any] | None = None) -> dict:
    body = json.dumps({"query": query, "variables": variables or {}}).encode()
    request = urllib.request.Request(
        url, data=body, headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=60) as answer:
        payload = json.load(answer)
    if payload.get("errors"):
        raise AssertionError(f"GraphQL errors: {payload['errors']}")
    return payload["data"]


@dataclass
class Deployment:
    """The webserver (started) and the daemon (started on demand) of one instance."""

    root: Path
    env: dict[str, str]
    warehouse_url: str
    dagster_postgres_url: str
    port: int
    ecb_recent: dict[date, dict[str, str]]
    ecb_server: StaticServer
    ecb_file: Path
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    def ecb_hangs_once(self, seconds: float) -> None:
        """The next download of the ECB file hangs `seconds` before answering."""
        body = self.ecb_file.read_bytes()
        self.ecb_server.serve(
            ECB_PATH, Response(body=body, delay_seconds=seconds), Response(body=body)
        )

    def ecb_requests(self) -> int:
        return sum(1 for path in self.ecb_server.requests if path.startswith(ECB_PATH))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def dagster_home(self) -> Path:
        return Path(self.env["DAGSTER_HOME"])

    def log(self, name: str) -> Path:
        return self.root / f"{name}.log"

    def start(self, name: str, *args: str) -> None:
        handle = self.log(name).open("ab")
        self.processes[name] = subprocess.Popen(
            [str(BIN / name), *args],
            cwd=ROOT,
            env=self.env,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: the code servers die with it
        )
        handle.close()

    def start_webserver(self) -> None:
        self.start(
            "dagster-webserver", "-w", str(WORKSPACE), "-h", "127.0.0.1", "-p", str(self.port)
        )
        self.wait_for(self.webserver_ready, 180, "the webserver to answer GraphQL")

    def start_daemon(self) -> None:
        if "dagster-daemon" not in self.processes:
            self.start("dagster-daemon", "run", "-w", str(WORKSPACE))

    def stop(self, name: str) -> None:
        process = self.processes.pop(name, None)
        if process is None or process.poll() is not None:
            return
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
        with suppress(ProcessLookupError):  # code servers left behind in the group
            os.killpg(process.pid, signal.SIGKILL)

    def stop_all(self) -> None:
        for name in list(self.processes):
            self.stop(name)

    def kill_run_workers(self) -> int:
        """SIGKILL the daemon's run and step processes, as the OOM killer would; how many.

        The daemon's code server starts each run (and each of its steps) as a spawned
        multiprocessing child in the daemon's process group.
        """
        daemon = self.processes["dagster-daemon"]
        killed = 0
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                pid = int(entry.name)
                command = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
                in_group = os.getpgid(pid) == daemon.pid
            except (OSError, ProcessLookupError):
                continue
            if in_group and b"spawn_main" in command:
                with suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                    killed += 1
        return killed

    def cli(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(BIN / args[0]), *args[1:]],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    def graphql(self, query: str, variables: dict[str, Any] | None = None) -> dict:
        return graphql_request(f"{self.url}/graphql", query, variables)

    def webserver_ready(self) -> bool:
        process = self.processes.get("dagster-webserver")
        if process is not None and process.poll() is not None:
            raise AssertionError(f"the webserver exited ({process.returncode})\n{self.logs()}")
        try:
            data = self.graphql("{ version workspaceOrError { __typename } }")
        except (urllib.error.URLError, ConnectionError, TimeoutError, AssertionError):
            return False
        return data["workspaceOrError"]["__typename"] == "Workspace"

    def logs(self, lines: int = 80) -> str:
        parts = []
        for name in ("dagster-webserver", "dagster-daemon"):
            path = self.log(name)
            if path.exists():
                tail = path.read_text(errors="replace").splitlines()[-lines:]
                parts.append(f"--- {name} (last {len(tail)} lines) ---\n" + "\n".join(tail))
        return "\n".join(parts)

    def wait_for(self, check: Callable[[], T], timeout: float, what: str, every: float = 2) -> T:
        """Poll `check` until it returns something truthy; on timeout fail with the logs."""
        deadline = time.monotonic() + timeout
        while True:
            found = check()
            if found:
                return found
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"timed out after {timeout:.0f} s waiting for {what}\n{self.logs()}"
                )
            time.sleep(every)


@contextmanager
def deployment(root: Path) -> Iterator[Deployment]:
    """Scratch databases, DAGSTER_HOME with deploy/dagster.yaml, and the webserver running."""
    with scratch_database("dagster_e2e") as dagster_db, scratch_database("wealth_e2e") as warehouse:
        home = root / "dagster"
        home.mkdir(parents=True)
        config = yaml.safe_load(DEPLOY_DAGSTER_YAML.read_text())
        config["run_monitoring"].update(
            poll_interval_seconds=MONITORING_SECONDS,
            free_slots_after_run_end_seconds=MONITORING_SECONDS,
        )
        (home / "dagster.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
        ecb_file = root / "eurofxref-recent.csv"
        recent = write_recent_ecb_file(ecb_file, berlin_today())
        ecb_server = StaticServer().start()
        ecb_server.serve_file(ECB_PATH, ecb_file)
        dagster_url = with_driver(dagster_db, "postgresql+psycopg2")
        env = {
            name: value
            for name, value in os.environ.items()
            if not name.startswith(("WEALTH_", "DAGSTER_"))
        }
        env.update(
            DAGSTER_HOME=str(home),
            DAGSTER_POSTGRES_URL=dagster_url,
            WEALTH_HOME=str(root / "home"),
            WEALTH_DATABASE_URL=with_driver(warehouse, "postgresql+psycopg"),
            WEALTH_FX_SOURCE="ecb_file",
            WEALTH_ECB_FILE=ecb_server.url(ECB_PATH),
            WEALTH_SCHEDULES_RUNNING="true",
            WEALTH_FX_REFRESH_CRON="* * * * *",
            WEALTH_SENSOR_INTERVAL_SECONDS=str(SENSOR_INTERVAL_SECONDS),
            PYTHONUNBUFFERED="1",
        )
        found = Deployment(
            root=root,
            env=env,
            warehouse_url=env["WEALTH_DATABASE_URL"],
            dagster_postgres_url=dagster_url,
            port=free_port(),
            ecb_recent=recent,
            ecb_server=ecb_server,
            ecb_file=ecb_file,
        )
        try:
            found.start_webserver()
            yield found
        finally:
            found.stop_all()
            ecb_server.stop()
            kept = ROOT / "test-artifacts" / "deployment"  # the processes' logs, for a failure
            kept.mkdir(parents=True, exist_ok=True)
            for name in ("dagster-webserver", "dagster-daemon"):
                if found.log(name).exists():
                    shutil.copy(found.log(name), kept / f"{name}.log")
            from wealth_pipeline.warehouse.engine import dispose_engines

            dispose_engines()  # the test process's own connections, before the DROP


@pytest.fixture(scope="session")
def dagster_deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """One deployment for the session: the daemon test and the browser tests share it."""
    with deployment(tmp_path_factory.mktemp("deployment")) as found:
        yield found
