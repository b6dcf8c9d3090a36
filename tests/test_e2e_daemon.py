"""End to end with the real daemon: `dagster-daemon run` and `dagster-webserver` against a
PostgreSQL-backed instance configured by deploy/dagster.yaml, and a PostgreSQL warehouse.

A schedule ticks for real (the ECB refresh, every minute through `WEALTH_FX_REFRESH_CRON`),
the automation sensor evaluates for real (every 5 s through `WEALTH_SENSOR_INTERVAL_SECONDS`)
and `converted_snapshots` converts a snapshot once the scheduled run has brought its rate, and a partition-range
backfill launched through the webserver's GraphQL endpoint, as the UI launches it, runs as
one run and lands every partition. A run whose worker is killed mid-run (as by the OOM
killer) is failed, its pool slot is given back by run monitoring, and the next run gets it.
The slowest part is waiting for the next minute's tick.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal
from fractions import Fraction
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from tests.support.data import ECB_SAMPLE
from tests.support.deployment import (
    Deployment,
    add_waiting_snapshot,
    berlin_today,
    recent_business_days,
)
from wealth_pipeline import money
from wealth_pipeline.fx.assets import REFRESH_DAYS, refresh_window
from wealth_pipeline.warehouse.engine import get_engine
from wealth_pipeline.warehouse.schema import account_snapshots, exchange_rates

pytestmark = [pytest.mark.postgres, pytest.mark.e2e]

BACKFILL_START, BACKFILL_END = "2024-01-02", "2024-01-31"

RUNS = """
query Runs($filter: RunsFilter) {
  runsOrError(filter: $filter) {
    ... on Runs { results { runId status jobName tags { key value } } }
  }
}
"""
LAUNCH_BACKFILL = """
mutation Launch($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message stack }
  }
}
"""
POOL = """
{
  instance {
    concurrencyLimit(concurrencyKey: "ecb_rates") {
      slotCount
      claimedSlots { runId stepKey }
    }
  }
}
"""
BACKFILL = """
query Backfill($id: String!) {
  partitionBackfillOrError(backfillId: $id) {
    __typename
    ... on PartitionBackfill {
      status
      numPartitions
      runs { runId status tags { key value } }
    }
  }
}
"""
SCHEDULE = """
query Schedule($selector: ScheduleSelector!) {
  scheduleOrError(scheduleSelector: $selector) {
    __typename
    ... on Schedule { scheduleState { id status } }
  }
}
"""
STOP_SCHEDULE = """
mutation Stop($id: String!) {
  stopRunningSchedule(id: $id) {
    __typename
    ... on ScheduleStateResult { scheduleState { status } }
    ... on PythonError { message }
  }
}
"""
PARTITION_STATUSES = """
{
  assetNodeOrError(assetKey: {path: ["exchange_rates"]}) {
    ... on AssetNode {
      assetPartitionStatuses {
        ... on TimePartitionStatuses { ranges { startKey endKey status } }
      }
    }
  }
}
"""


def launch_backfill(deployment: Deployment, start: str, end: str) -> str:
    """A backfill of exchange_rates over a range, launched as the UI launches it."""
    launched = deployment.graphql(
        LAUNCH_BACKFILL,
        {
            "params": {
                "partitionsByAssets": [
                    {
                        "assetKey": {"path": ["exchange_rates"]},
                        "partitions": {"range": {"start": start, "end": end}},
                    }
                ],
                "title": f"{start}..{end}",
            }
        },
    )["launchPartitionBackfill"]
    assert launched["__typename"] == "LaunchBackfillSuccess", launched
    return launched["backfillId"]


def backfill_done(deployment: Deployment, backfill_id: str, timeout: float) -> dict:
    def done() -> dict | None:
        found = deployment.graphql(BACKFILL, {"id": backfill_id})
        backfill = found["partitionBackfillOrError"]
        return backfill if backfill["status"] not in ("REQUESTED", "CANCELING", "FAILING") else None

    return deployment.wait_for(done, timeout, f"backfill {backfill_id} to finish")


def runs(deployment: Deployment, **tags: str) -> list[dict]:
    filter_ = {"tags": [{"key": k, "value": v} for k, v in tags.items()]}
    return deployment.graphql(RUNS, {"filter": filter_})["runsOrError"]["results"]


def tag_map(run: dict) -> dict[str, str]:
    return {tag["key"]: tag["value"] for tag in run["tags"]}


IN_PROGRESS = ("QUEUED", "NOT_STARTED", "STARTING", "STARTED", "CANCELING")


def finished(found: list[dict]) -> list[dict]:
    """The runs, once there are some and all of them finished."""
    if not found or any(r["status"] in IN_PROGRESS for r in found):
        return []
    return found


def stop_schedule(deployment: Deployment, name: str) -> None:
    """Turn a schedule off as the UI's toggle does (its state id, then the mutation)."""
    selector = {
        "repositoryLocationName": "wealth_pipeline",
        "repositoryName": "__repository__",
        "scheduleName": name,
    }
    found = deployment.graphql(SCHEDULE, {"selector": selector})["scheduleOrError"]
    assert found["__typename"] == "Schedule", found
    stopped = deployment.graphql(STOP_SCHEDULE, {"id": found["scheduleState"]["id"]})
    assert stopped["stopRunningSchedule"]["scheduleState"]["status"] == "STOPPED", stopped


def idle(deployment: Deployment) -> bool:
    """No run in progress and no slot of the `ecb_rates` pool claimed."""
    if any(r["status"] in IN_PROGRESS for r in runs(deployment)):
        return False
    return not deployment.graphql(POOL)["instance"]["concurrencyLimit"]["claimedSlots"]


@pytest.fixture(scope="module")
def daemon(dagster_deployment: Deployment) -> Iterator[dict]:
    """The warehouse holds one unconverted USD snapshot; the daemon starts."""
    engine = get_engine(dagster_deployment.warehouse_url)
    day = recent_business_days(1, berlin_today())[0]
    stored = add_waiting_snapshot(engine, "erin", day, "1000.00", "US savings")
    assert stored.balance_base_currency is None and stored.no_rate_reason  # no rates yet

    # The pool limit the README tells production to set, through the same command.
    done = dagster_deployment.cli("dagster", "instance", "concurrency", "set", "ecb_rates", "1")
    assert done.returncode == 0, done.stderr
    dagster_deployment.start_daemon()
    try:
        yield {"snapshot_id": stored.id, "day": day}
    finally:
        dagster_deployment.stop("dagster-daemon")


def test_a_ui_backfill_of_a_range_is_one_run_landing_every_partition(
    dagster_deployment: Deployment, daemon: dict
) -> None:
    backfill_id = launch_backfill(dagster_deployment, BACKFILL_START, BACKFILL_END)
    backfill = backfill_done(dagster_deployment, backfill_id, 240)
    assert backfill["status"] in ("COMPLETED", "COMPLETED_SUCCESS"), backfill
    assert backfill["numPartitions"] == 30
    [run] = backfill["runs"]  # a single run for the whole range
    assert run["status"] == "SUCCESS"
    tags = tag_map(run)
    assert tags["dagster/asset_partition_range_start"] == BACKFILL_START
    assert tags["dagster/asset_partition_range_end"] == BACKFILL_END
    assert tags["dagster/backfill"] == backfill_id

    # Every partition of the range is materialized, as the UI shows it.
    node = dagster_deployment.graphql(PARTITION_STATUSES)["assetNodeOrError"]
    ranges = node["assetPartitionStatuses"]["ranges"]
    assert any(
        r["status"] == "MATERIALIZED"
        and r["startKey"] <= BACKFILL_START
        and r["endKey"] >= BACKFILL_END
        for r in ranges
    ), ranges

    with get_engine(dagster_deployment.warehouse_url).connect() as connection:
        days = connection.execute(
            select(exchange_rates.c.rate_date)
            .where(exchange_rates.c.rate_date.between(date(2024, 1, 2), date(2024, 1, 31)))
            .distinct()
        ).scalars()
        stored = set(days)
    with ECB_SAMPLE.open(encoding="utf-8") as handle:
        published = {
            date.fromisoformat(line[:10]) for line in handle if line.startswith("2024-01-")
        }
    assert stored == published and len(stored) == 22


def test_the_schedule_ticks_and_its_run_writes_the_window(
    dagster_deployment: Deployment, daemon: dict
) -> None:
    scheduled = dagster_deployment.wait_for(
        lambda: finished(
            runs(dagster_deployment, **{"dagster/schedule_name": "exchange_rates_daily"})
        ),
        200,
        "a tick of exchange_rates_daily and its run",
    )
    # Every tick launches a run (Dagster keeps a schedule's run key unique per tick, not across
    # ticks): here the cron ticks every minute, so a slow poll may see a second run.
    first, last = refresh_window(datetime.now(ZoneInfo("Europe/Berlin")))
    for run in scheduled:
        assert run["status"] == "SUCCESS", run
        assert run["jobName"] == "exchange_rates_job"
        tags = tag_map(run)
        assert (
            tags["dagster/asset_partition_range_start"],
            tags["dagster/asset_partition_range_end"],
        ) == (first, last)
        assert tags["dagster/max_retries"] == "2"  # the FX job opts into whole-run retries

    window = {d for d in dagster_deployment.ecb_recent if first <= d.isoformat() <= last}
    assert window and len(window) <= REFRESH_DAYS
    with get_engine(dagster_deployment.warehouse_url).connect() as connection:
        stored = connection.execute(
            select(
                exchange_rates.c.rate_date, exchange_rates.c.quote_currency, exchange_rates.c.rate
            ).where(exchange_rates.c.rate_date >= date.fromisoformat(first))
        ).all()
    assert {day for day, _, _ in stored} == window
    expected = {
        (day, code, Decimal(value))
        for day, rates in dagster_deployment.ecb_recent.items()
        if day in window
        for code, value in rates.items()
    }
    assert set(stored) == expected


def test_automation_converts_the_snapshot_once_the_rates_arrive(
    dagster_deployment: Deployment, daemon: dict
) -> None:
    engine = get_engine(dagster_deployment.warehouse_url)

    def converted():
        with engine.connect() as connection:
            row = connection.execute(
                select(account_snapshots).where(account_snapshots.c.id == daemon["snapshot_id"])
            ).one()
        return row if row.balance_base_currency is not None else None

    row = dagster_deployment.wait_for(converted, 200, "the automation's conversion run")
    usd = Decimal(dagster_deployment.ecb_recent[daemon["day"]]["USD"])
    rate = money.divide(Decimal(1), usd, money.RATE_PLACES)
    assert row.base_currency == "EUR"
    assert row.exchange_rate_used == rate
    assert row.rate_date == daemon["day"]
    assert row.balance_base_currency == money.quantize(Fraction(1000) * Fraction(rate), 4)
    assert row.conversion_note is None

    automated = dagster_deployment.wait_for(
        lambda: finished(
            runs(dagster_deployment, **{"dagster/from_automation_condition": "true"})
        ),
        120,
        "the automation's runs to finish",
    )
    assert automated and {r["status"] for r in automated} == {"SUCCESS"}, automated


def test_a_crashed_run_is_failed_and_its_pool_slot_given_back(
    dagster_deployment: Deployment, daemon: dict
) -> None:
    """The run worker dies while it holds the `ecb_rates` slot (pool limit 1)."""
    # The every-minute refresh would race the backfill for the slot and the hanging download
    # (a CI run saw its tick take both): it has done its part above, so it is turned off.
    stop_schedule(dagster_deployment, "exchange_rates_daily")
    # Whatever ran before has finished and given its slot back.
    dagster_deployment.wait_for(lambda: idle(dagster_deployment), 120, "earlier runs to finish")
    seen = dagster_deployment.ecb_requests()
    dagster_deployment.ecb_hangs_once(600)
    crashed_backfill = launch_backfill(dagster_deployment, "2024-02-01", "2024-02-29")
    dagster_deployment.wait_for(
        lambda: dagster_deployment.ecb_requests() > seen, 180, "the run to download the ECB file"
    )
    [run] = dagster_deployment.wait_for(
        lambda: dagster_deployment.graphql(BACKFILL, {"id": crashed_backfill})[
            "partitionBackfillOrError"
        ]["runs"],
        60,
        "the backfill's run (other runs: "
        + repr([(r["runId"], r["status"], r["jobName"], tag_map(r)) for r in runs(dagster_deployment)])
        + ")",
    )
    held = dagster_deployment.graphql(POOL)["instance"]["concurrencyLimit"]
    assert held["slotCount"] == 1
    assert [slot["runId"] for slot in held["claimedSlots"]] == [run["runId"]], (
        held,
        run,
        [(r["runId"], r["status"], r["jobName"], tag_map(r)) for r in runs(dagster_deployment)],
    )

    assert dagster_deployment.kill_run_workers() >= 1
    failed = dagster_deployment.wait_for(
        lambda: finished(runs(dagster_deployment, **{"dagster/backfill": crashed_backfill})),
        120,
        "the crashed run to be marked failed",
    )
    assert [r["status"] for r in failed] == ["FAILURE"]
    dagster_deployment.wait_for(
        lambda: (
            not dagster_deployment.graphql(POOL)["instance"]["concurrencyLimit"]["claimedSlots"]
        ),
        120,
        "run monitoring to free the crashed run's slot",
    )

    # The next run gets the slot and lands its range.
    backfill = backfill_done(
        dagster_deployment, launch_backfill(dagster_deployment, "2024-03-01", "2024-03-28"), 240
    )
    assert backfill["status"] in ("COMPLETED", "COMPLETED_SUCCESS"), backfill
    assert [r["status"] for r in backfill["runs"]] == ["SUCCESS"]
