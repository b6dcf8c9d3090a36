"""Benchmark: one tick of the automation sensor on an instance with the full partition history.

    .venv/bin/python -m bench.automation [--days N] [--ticks 5]

The instance (Dagster's ephemeral one: the same SQLite storage schema and queries, in memory,
so that recording 50,000 materializations takes a minute, not an hour) holds a
materialization of every daily partition since 1999-01-04 (10,000+ days) of each daily asset
(`exchange_rates`, `account_balances`, `account_positions`, `account_cash_flows`,
`converted_snapshots`) and of every mart. Then the definitions' automation conditions are
evaluated as the automation sensor evaluates them (`dg.evaluate_automation_conditions` over
the whole asset graph, carrying the cursor), at 18:00 Berlin on the last day:

- quiet: nothing changed since the last tick (what almost every tick is);
- evening: the day's rates and the day's balances and positions just arrived (the tick
  requests that day's conversions);
- after: the conversions ran (the tick requests the marts).

The floor, measured in the same run on the same instance: the same graph with every asset's
condition replaced by Dagster's stock `AutomationCondition.eager()`. Dagster's partition
status caches are brought up to date before the first, evening and after ticks and timed on
their own (the UI and the daemon keep them; otherwise the first tick of a pair pays for them).
Medians of `--ticks` quiet ticks. The temporary WEALTH_HOME is removed at the end.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from datetime import date, datetime
from zoneinfo import ZoneInfo


def populate(instance, keys: list[str], daily: list, marts: list) -> None:
    """Every day of `keys` of every daily asset materialized (runless: the cheapest record)."""
    import dagster as dg

    for asset in daily:
        for key in keys:
            instance.report_runless_asset_event(dg.AssetMaterialization(asset, partition=key))
    for mart in marts:
        instance.report_runless_asset_event(dg.AssetMaterialization(mart))


def stock(defs):
    """The same assets, every condition replaced by `AutomationCondition.eager()`."""
    import dagster as dg

    eager = dg.AutomationCondition.eager()
    assets = [
        asset.map_asset_specs(
            lambda spec: spec.replace_attributes(
                automation_condition=eager if spec.automation_condition else None
            )
        )
        if isinstance(asset, dg.AssetsDefinition)
        else asset
        for asset in defs.assets or []
    ]
    return dg.Definitions(assets=assets, resources=defs.resources)


def refresh_caches(instance, daily: list, partitions_def) -> float:
    """Bring Dagster's partition status caches up to date (what the UI and the daemon both
    do after new events); its seconds. Otherwise whichever tick comes first pays for it."""
    from dagster._core.storage.partition_status_cache import (
        get_and_update_asset_status_cache_value,
    )

    started = time.perf_counter()
    for key in daily:
        get_and_update_asset_status_cache_value(instance, key, partitions_def)
    return time.perf_counter() - started


class Ticker:
    def __init__(self, defs, instance, now: datetime) -> None:
        self.defs, self.instance, self.now, self.cursor = defs, instance, now, None

    def tick(self) -> tuple[float, int]:
        import dagster as dg

        started = time.perf_counter()
        result = dg.evaluate_automation_conditions(
            defs=self.defs, instance=self.instance, cursor=self.cursor, evaluation_time=self.now
        )
        elapsed = time.perf_counter() - started
        self.cursor = result.cursor
        return elapsed, result.total_requested


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--days", type=int, default=0, help="history length (default: all)")
    parser.add_argument("--ticks", type=int, default=5)
    options = parser.parse_args(argv)
    folder = tempfile.mkdtemp(prefix="bench_automation_")
    os.environ.update(WEALTH_HOME=os.path.join(folder, "home"), WEALTH_OFFLINE="true")
    try:
        import dagster as dg

        from wealth_pipeline.definitions import build_definitions
        from wealth_pipeline.partitions import daily_partitions

        last = date(2026, 12, 3)
        now = datetime(last.year, last.month, last.day, 18, tzinfo=ZoneInfo("Europe/Berlin"))
        keys = daily_partitions.get_partition_keys(current_time=now)
        if options.days:
            keys = keys[-options.days :]
        defs = build_definitions()
        graph = defs.resolve_asset_graph()
        daily = [
            k for k in graph.get_all_asset_keys() if graph.get(k).partitions_def == daily_partitions
        ]
        marts = [k for k in graph.get_all_asset_keys() if k.to_user_string().startswith("mart_")]
        with dg.DagsterInstance.ephemeral() as instance:
            started = time.perf_counter()
            populate(instance, keys[:-1], daily, marts)
            print(
                f"instance: {len(keys) - 1:,} days x {len(daily)} daily assets "
                f"+ {len(marts)} marts materialized in {time.perf_counter() - started:.0f} s"
            )
            upkeep = [refresh_caches(instance, daily, daily_partitions)]
            ours, floor = Ticker(defs, instance, now), Ticker(stock(defs), instance, now)
            first = {"ours": ours.tick(), "floor": floor.tick()}  # the initial evaluation
            quiet: dict[str, list[float]] = {"ours": [], "floor": []}
            for _ in range(options.ticks):
                quiet["ours"].append(ours.tick()[0])
                quiet["floor"].append(floor.tick()[0])
            for asset in ("exchange_rates", "account_balances", "account_positions"):
                instance.report_runless_asset_event(
                    dg.AssetMaterialization(asset, partition=keys[-1])
                )
            upkeep.append(refresh_caches(instance, daily, daily_partitions))
            evening = {"ours": ours.tick(), "floor": floor.tick()}
            instance.report_runless_asset_event(
                dg.AssetMaterialization("converted_snapshots", partition=keys[-1])
            )
            upkeep.append(refresh_caches(instance, daily, daily_partitions))
            after = {"ours": ours.tick(), "floor": floor.tick()}
        print(f"automation tick over {len(keys):,} daily partitions (ephemeral instance)")
        for name in ("ours", "floor"):
            label = "ours " if name == "ours" else "floor (eager)"
            median = statistics.median(quiet[name])
            print(
                f"  {label:14} first {first[name][0] * 1000:7.0f} ms | quiet (median of "
                f"{options.ticks}) {median * 1000:6.0f} ms | evening {evening[name][0] * 1000:6.0f} "
                f"ms, {evening[name][1]} requested | after the conversion "
                f"{after[name][0] * 1000:6.0f} ms, {after[name][1]} requested"
            )
        print(
            "  Dagster's status cache upkeep (before the first, evening and after ticks; shared "
            f"with the UI): {', '.join(f'{t * 1000:.0f} ms' for t in upkeep)}"
        )
        ratio = statistics.median(quiet["ours"]) / statistics.median(quiet["floor"])
        print(f"  quiet tick: {ratio:.2f}x the floor")
        return 0
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
