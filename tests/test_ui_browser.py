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
from tests.support.deployment import Deployment
from wealth_pipeline.partitions import daily_partitions

ARTIFACTS = artifacts("ui")


def shoot(page, name: str) -> None:  # type: ignore[no-untyped-def]
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


@pytest.mark.postgres
def test_the_asset_graph_shows_the_sync_and_its_upstream(
    page, dagster_deployment: Deployment
) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{dagster_deployment.url}/locations/wealth_pipeline/asset-groups/sync")
    node = page.get_by_text("account_snapshots", exact=True).first
    node.wait_for(state="visible")
    # Its upstream asset (another group) is drawn as a link beside it, with the edge.
    page.get_by_text("exchange_rates", exact=True).first.wait_for(state="visible")
    page.get_by_text("Asset checks").first.wait_for(state="visible")
    partitions = len(daily_partitions.get_partition_keys())
    page.get_by_text(f"{partitions:,} partitions").first.wait_for(state="visible")
    assert page.locator("svg path").count() > 0  # the edges
    shoot(page, "asset-graph-sync")


@pytest.mark.postgres
def test_the_partitions_of_exchange_rates(page, dagster_deployment: Deployment) -> None:  # type: ignore[no-untyped-def]
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
def test_the_schedules_and_sensors(page, dagster_deployment: Deployment) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{dagster_deployment.url}/automation")
    for name in (
        "exchange_rates_daily",
        "daily_sync",
        "conversion_sensor",
        "new_account_history_sensor",
    ):
        page.get_by_text(name, exact=True).first.wait_for(state="visible")
    shoot(page, "automation")


# --- the API's docs page -------------------------------------------------------------------


def test_the_api_docs_page_lists_every_endpoint_of_the_schema(page, api_server: Server) -> None:  # type: ignore[no-untyped-def]
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
