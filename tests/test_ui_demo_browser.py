"""The first hour in a real browser: the demo as `scripts/dev up` makes it (offline), then a
person's click on Materialize -> Latest -> Launch on `account_balances`.

`wealth init` and `wealth demo setup` on a fresh WEALTH_HOME with WEALTH_OFFLINE=true, then
`dagster dev` (the UI and the daemon, as `scripts/dev up` starts them) on a free port, driven
by Debian's headless Chromium. Screenshots in test-artifacts/ui-demo/.

- The demo's assets show as materialized (the command line's work is recorded in Dagster).
- Materializing the latest day (today, after the shipped rates stop) runs and succeeds, but
  writes nothing: the demo's snapshots and net worth are as before, and the run says why.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.support.browser import BIN, CHEAP_ARGON2_ENV, artifacts, clean_env, running
from tests.support.fakes.server import free_port
from wealth_pipeline.warehouse.engine import get_engine
from wealth_pipeline.warehouse.schema import account_snapshots, mart_net_worth_daily

ARTIFACTS = artifacts("ui-demo")
CLOCK = "2026-10-30"  # the shipped excerpt's last day: the demo's clock offline


@dataclass
class DemoUi:
    url: str
    home: Path
    env: dict[str, str]

    @property
    def database_url(self) -> str:
        return f"sqlite:///{self.home / 'warehouse.sqlite'}"


@pytest.fixture(scope="module")
def demo_ui(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoUi]:
    home = tmp_path_factory.mktemp("demo-home")
    env = clean_env(
        WEALTH_HOME=str(home),
        DAGSTER_HOME=str(home / "dagster"),
        WEALTH_OFFLINE="true",
        WEALTH_RECORD_IN_DAGSTER="true",
        WEALTH_SCHEDULES_RUNNING="false",
        **CHEAP_ARGON2_ENV,
    )
    for args in (["init"], ["demo", "setup", "--days", "30"]):
        done = subprocess.run(
            [str(BIN / "wealth"), *args], env=env, capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, done.stdout + done.stderr
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with running(
        ["dagster", "dev", "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)],
        env,
        ready=f"{url}/server_info",
        log=home / "dagster-dev.log",
        timeout=180,
        stop=signal.SIGINT,  # what Ctrl-C sends `dagster dev`
    ):
        yield DemoUi(url, home, env)


def open_asset(page, demo_ui: DemoUi, asset: str) -> None:
    page.goto(f"{demo_ui.url}/assets/{asset}")
    page.get_by_text("Latest materialization").first.wait_for(state="visible")
    skip = page.get_by_role("button", name="Skip")  # the UI's first-visit newsletter dialog
    if skip.count():
        skip.first.click()


def demo_state(demo_ui: DemoUi) -> tuple:
    with get_engine(demo_ui.database_url).connect() as connection:
        snapshots = connection.execute(
            select(func.count(), func.max(account_snapshots.c.snapshot_date))
        ).one()
        worth = connection.execute(
            select(mart_net_worth_daily.c.total_wealth, mart_net_worth_daily.c.unconverted_count)
            .order_by(mart_net_worth_daily.c.day.desc())
            .limit(1)
        ).one()
    return tuple(snapshots), tuple(worth)


def test_the_demo_shows_as_materialized(page, demo_ui: DemoUi) -> None:
    for asset in (
        "account_balances",
        "account_positions",
        "converted_snapshots",
        "account_cash_flows",
        "mart_net_worth_daily",
        "exchange_rates",
    ):
        open_asset(page, demo_ui, asset)
        page.wait_for_timeout(1500)  # the status loads after the page
        body = page.locator("body").inner_text()
        assert "Never materialized" not in body, (asset, body[:1500])
        assert re.search(r"Latest materialization\s*\n?.*ago", body), (asset, body[:1500])
        page.screenshot(path=str(ARTIFACTS / f"materialized-{asset}.png"), full_page=True)


def test_materialize_latest_offline_leaves_the_demo_unharmed(page, demo_ui: DemoUi) -> None:
    import dagster as dg

    before = demo_state(demo_ui)
    assert str(before[0][1]) == CLOCK and before[1][1] == 0

    open_asset(page, demo_ui, "account_balances")
    page.get_by_role("button", name="Materialize…").first.click()
    # Balances and positions arrive together (one multi-asset): the UI says so first.
    page.get_by_text("Additional assets will be materialized").wait_for(state="visible")
    page.get_by_role("button", name="Confirm").click()
    page.get_by_text("Launch runs to materialize 2 assets").wait_for(state="visible")
    page.get_by_role("button", name="Latest", exact=True).click()
    page.screenshot(path=str(ARTIFACTS / "materialize-latest.png"), full_page=True)
    page.get_by_role("button", name="Launch 1 run").click()

    os.environ["DAGSTER_HOME"] = demo_ui.env["DAGSTER_HOME"]  # read the UI's instance
    try:
        with dg.DagsterInstance.get() as instance:
            deadline = time.monotonic() + 180
            while True:
                runs = [  # the person's run, not what the automation requests after it
                    r
                    for r in instance.get_runs(limit=10)
                    if "dagster/partition" in r.tags
                    and "dagster/from_automation_condition" not in r.tags
                ]
                if runs and runs[0].is_finished:
                    break
                assert time.monotonic() < deadline, "the launched run did not finish"
                time.sleep(2)
            run = runs[0]
            events = instance.get_records_for_run(
                run.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION
            ).records
    finally:
        os.environ.pop("DAGSTER_HOME", None)
    assert run.status == dg.DagsterRunStatus.SUCCESS  # never a red partition
    [record] = [
        e for e in events
        if e.event_log_entry.asset_materialization.asset_key == dg.AssetKey("account_balances")
    ]  # fmt: skip
    metadata = record.event_log_entry.asset_materialization.metadata
    assert metadata["accounts_skipped"].value == 4 and metadata["rows_written"].value == 0
    assert f"end on {CLOCK}" in metadata["skipped"].value
    assert demo_state(demo_ui) == before  # unharmed: same snapshots, same net worth

    page.goto(f"{demo_ui.url}/runs/{run.run_id}")
    page.get_by_text("Success").first.wait_for(state="visible")
    page.screenshot(path=str(ARTIFACTS / "materialize-latest-run.png"), full_page=True)
