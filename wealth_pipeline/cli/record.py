"""Work done from the command line, recorded in Dagster as materializations of what it filled.

`wealth demo setup`, `wealth marts build`, imports, history backfills, `wealth report send`:
each writes warehouse tables that Dagster assets own. Without a record the UI would say "Never
materialized" about data that exists, and a person would materialize it again. So each command reports a runless
materialization of every asset partition it filled (as of the day it filled), with that day's
own metadata, tagged with the command. Recording never fails the command: the data is written
either way, and a failure to record is said in one line.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

import click

from wealth_pipeline.cli.common import ensure_dagster_home
from wealth_pipeline.settings import Settings

# A snapshot day written outside a run: its facts (balances, positions) and their conversion.
SNAPSHOT_ASSETS = ("account_balances", "account_positions", "converted_snapshots")
FLOWS_ASSET = "account_cash_flows"
RATES_ASSET = "exchange_rates"
REPORT_ASSET = "weekly_report"


def record(
    settings: Settings,
    command: str,
    asset: str,
    partitions: Mapping[str, Mapping[str, Any]] | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> int:
    """Report `asset` materialized (per partition, with each one's metadata); events stored."""
    if not settings.record_in_dagster:
        return 0
    import dagster as dg

    try:
        ensure_dagster_home(settings)
        instance = dg.DagsterInstance.get()
        tags = {"wealth/recorded_by": command.replace(" ", "_")[:63]}
        common = {**(metadata or {}), "recorded_by": command}
        items = (
            [(key, {**common, **value}) for key, value in sorted(partitions.items())]
            if partitions is not None
            else [(None, common)]
        )
        for partition, values in items:
            instance.report_runless_asset_event(
                dg.AssetMaterialization(
                    asset_key=asset, partition=partition, metadata=values, tags=tags
                )
            )
        return len(items)
    except Exception as exc:  # never fail the command for Dagster's bookkeeping
        click.echo(
            f"Note: could not record {asset} in Dagster ({type(exc).__name__}: {exc}); "
            "the data is written.",
            err=True,
        )
        return 0


def snapshot_days(
    settings: Settings,
    command: str,
    days: Mapping[date, int],
    accounts: int | None = None,
    asset: str | None = None,
) -> int:
    """Record the snapshot days a command wrote (rows per day), converted as they were
    written: `account_balances`, `account_positions` and `converted_snapshots`; or those of
    one other daily asset it filled (`account_cash_flows`: a history fill writes flows too)."""
    partitions = {
        day.isoformat(): {"dagster/row_count": rows, "rows_written": rows}
        for day, rows in days.items()
        if rows
    }
    if not partitions:
        return 0
    extra = {"accounts": accounts} if accounts is not None else None
    assets = (asset,) if asset else SNAPSHOT_ASSETS
    return sum(record(settings, command, name, partitions, extra) for name in assets)


def marts(settings: Settings, command: str, rows: Mapping[str, int], summary: str) -> int:
    """Record every mart model a build wrote."""
    return sum(
        record(
            settings,
            command,
            model,
            metadata={"dagster/row_count": count, "build": summary},
        )
        for model, count in rows.items()
    )
