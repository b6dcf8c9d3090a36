"""The Dagster UI and the API's docs page in a real browser: Debian's headless Chromium
driven by Playwright (no browser download). Screenshots land in test-artifacts/ui/.

The Dagster UI is the webserver of the shared production-shaped deployment
(tests/support/deployment.py); the API runs as `wealth api` on a free port (the session's, shared with the dashboard tests).
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request

import pytest

from tests.support.browser import Server, artifacts
from tests.support.deployment import Deployment, graphql_request
from wealth_pipeline.partitions import daily_partitions

ARTIFACTS = artifacts("ui")


def shoot(page, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


LINEAGE = (
    "exchange_rates",
    "account_balances",
    "account_positions",
    "converted_snapshots",
    "mart_account_daily",
    "mart_breakdowns",
    "weekly_report",
)
BACKFILLS = """
query {
  partitionBackfillsOrError(limit: 10) {
    ... on PartitionBackfills {
      results { id partitionNames assetSelection { path } isAssetBackfill }
    }
  }
}
"""


@pytest.mark.postgres
def test_the_lineage_from_rates_and_facts_to_the_report(
    page, dagster_deployment: Deployment
) -> None:
    """converted_snapshots' neighbours: the facts and the rates feed it, the marts and the
    report follow; each asset in its group."""
    url = f"{dagster_deployment.url}/assets/converted_snapshots"
    page.goto(f"{url}?view=lineage&lineageScope=neighbors&lineageDepth=3")
    for name in LINEAGE[1:]:  # converted_snapshots is drawn shortened, and named above
        page.get_by_text(name, exact=True).first.wait_for(state="visible")
    page.get_by_text("converted_snapshots", exact=True).first.wait_for(state="visible")
    for group in ("fx", "sync", "conversions", "marts", "report"):
        page.get_by_text(group, exact=True).first.wait_for(state="visible")
    assert page.locator("svg path").count() > 0  # the edges
    shoot(page, "lineage-converted-snapshots")


@pytest.mark.postgres
def test_a_range_of_conversions_is_backfilled_from_the_asset_page(
    page, dagster_deployment: Deployment
) -> None:
    """Partitions tab -> Materialize… -> a range of days -> Launch backfill: one backfill of
    converted_snapshots over exactly those days (a single run: its backfill policy)."""
    page.goto(f"{dagster_deployment.url}/assets/converted_snapshots?view=partitions")
    partitions = len(daily_partitions.get_partition_keys())
    page.get_by_text(f"{partitions:,} Partitions").first.wait_for(state="visible")
    page.get_by_role("button", name="Materialize…").first.click()
    title = page.get_by_text("Launch runs to materialize converted_snapshots")
    # On a fresh instance the UI first says the facts and rates were never materialized.
    warning = page.get_by_text("have not been materialized yet")
    title.or_(warning).first.wait_for(state="visible")
    if warning.is_visible():
        page.get_by_role("button", name="Confirm").click()
    title.wait_for(state="visible")
    dialog = page.get_by_role("dialog").filter(has_text="Launch runs to materialize")
    dialog.get_by_text("Show all partitions").click()  # the range lies before the last 90 days
    field = dialog.get_by_placeholder(re.compile(r"^ex: "))  # "ex: 1999-01-04, ..."
    field.fill("[2024-01-08...2024-01-14]")
    field.press("Enter")
    dialog.get_by_text("7 partitions").first.wait_for(state="visible")
    dialog.get_by_text("Backfills all partitions in a single run.").wait_for(state="visible")
    shoot(page, "backfill-converted-snapshots")
    dialog.get_by_role("button", name="Launch backfill").click()
    page.get_by_text("Created backfill").first.wait_for(state="visible")

    found = graphql_request(f"{dagster_deployment.url}/graphql", BACKFILLS)
    backfills = [
        b for b in found["partitionBackfillsOrError"]["results"]
        if [k["path"] for k in b["assetSelection"] or []] == [["converted_snapshots"]]
    ]  # fmt: skip
    assert backfills, found
    assert backfills[0]["isAssetBackfill"]
    assert backfills[0]["partitionNames"] == [f"2024-01-{day:02d}" for day in range(8, 15)]


@pytest.mark.postgres
def test_the_partitions_of_exchange_rates(page, dagster_deployment: Deployment) -> None:
    page.goto(f"{dagster_deployment.url}/assets/exchange_rates?view=partitions")
    keys = daily_partitions.get_partition_keys()
    # Every daily partition since 1999-01-04 (Europe/Berlin), the newest listed first.
    page.get_by_text(f"{len(keys):,} Partitions Selected").wait_for(state="visible")
    page.get_by_text(keys[0], exact=True).first.wait_for(state="visible")  # the timeline's ends
    page.get_by_text(keys[-1], exact=True).first.wait_for(state="visible")
    body = page.locator("body").inner_text()
    found = re.search(r"Materialized \((\d+)\)", body)
    assert found, body[:2000]
    shoot(page, "exchange-rates-partitions")


@pytest.mark.postgres
def test_the_schedules_and_sensors(page, dagster_deployment: Deployment) -> None:
    page.goto(f"{dagster_deployment.url}/automation")
    for name in (
        "exchange_rates_daily",
        "daily_sync",
        "automation",
        "marts_sensor",
        "new_account_history_sensor",
    ):
        page.get_by_text(name, exact=True).first.wait_for(state="visible")
    shoot(page, "automation")


# --- the API's docs page -------------------------------------------------------------------


def test_the_api_docs_page_lists_every_endpoint_of_the_schema(page, api_server: Server) -> None:
    api_url = api_server.url
    with urllib.request.urlopen(f"{api_url}/api/schema", timeout=30) as answer:
        schema = json.load(answer)
    paths = sorted(schema["paths"])
    assert "/api/wealth/summary/" in paths and "/api/auth/login/" in paths
    page.goto(f"{api_url}/api/docs")
    for path in paths:
        page.get_by_text(path, exact=True).first.wait_for(state="visible")
    assert "Internal Server Error" not in page.locator("body").inner_text()
    shoot(page, "api-docs")
