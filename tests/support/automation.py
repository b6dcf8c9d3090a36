"""The definitions' automation conditions evaluated in a test, tick by tick, as the daemon's
automation sensor does, and the runs they ask for executed in process."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

import dagster as dg

from wealth_pipeline.conversions.assets import converted_snapshots
from wealth_pipeline.partitions import daily_partitions
from wealth_pipeline.warehouse.resource import WarehouseResource

RATES = dg.AssetKey("exchange_rates")
DAILY = (
    "exchange_rates",
    "account_balances",
    "account_positions",
    "account_cash_flows",
    "converted_snapshots",
)


class Automation:
    """Ticks over `assets` (default: `converted_snapshots`) at `now`, keeping the cursor."""

    def __init__(
        self,
        instance: dg.DagsterInstance,
        now: datetime,
        assets: Sequence[dg.AssetsDefinition] = (converted_snapshots,),
    ) -> None:
        self.instance, self.now, self.assets = instance, now, list(assets)
        self.cursor = None

    def tick(self) -> dict[str, list[str | None]]:
        """What this tick requests: asset -> partition keys (oldest first)."""
        own = {key.to_user_string() for asset in self.assets for key in asset.keys}
        upstream = [  # the other daily assets, as what they are to the evaluated ones
            dg.AssetSpec(key, partitions_def=daily_partitions) for key in DAILY if key not in own
        ]
        defs = dg.Definitions(
            assets=[*upstream, *self.assets],
            resources={"warehouse": WarehouseResource(database_url="sqlite://")},  # unused
        )
        # In a thread of its own: Dagster runs the evaluation with asyncio.run(), which refuses
        # a thread with a running event loop (the session's Playwright browser keeps one).
        with ThreadPoolExecutor(max_workers=1) as worker:
            result = worker.submit(
                dg.evaluate_automation_conditions,
                defs=defs,
                instance=self.instance,
                asset_selection=dg.AssetSelection.assets(*self.assets),
                cursor=self.cursor,
                evaluation_time=self.now,
            ).result()
        self.cursor = result.cursor
        requested = {}
        for asset in self.assets:
            for key in asset.keys:
                partitions = result.get_requested_partitions(key)
                if partitions:
                    requested[key.to_user_string()] = sorted(partitions, key=str)
        return requested


def rates_arrived(instance: dg.DagsterInstance, *days: str) -> None:
    """The `exchange_rates` materializations of `days`, as the asset records them."""
    for day in days:
        instance.report_runless_asset_event(dg.AssetMaterialization(RATES, partition=day))


def convert_days(
    instance: dg.DagsterInstance, url: str, days: Sequence[str]
) -> dg.ExecuteInProcessResult:
    """One run of `converted_snapshots` over `days` (a range, as a single-run backfill)."""
    return dg.materialize(
        [converted_snapshots],
        instance=instance,
        resources={"warehouse": WarehouseResource(database_url=url)},
        tags={
            "dagster/asset_partition_range_start": min(days),
            "dagster/asset_partition_range_end": max(days),
        },
    )


def conversion_metadata(result: dg.ExecuteInProcessResult) -> dict:
    """The conversion's metadata (the same on every day of the run), as plain values."""
    [event, *_] = result.asset_materializations_for_node("converted_snapshots")
    return {key: value.value for key, value in event.metadata.items()}
