"""`converted_snapshots` in Dagster: the base-currency amounts of the balances and positions
of its days, derived set-based from `account_balances`, `account_positions` and the
`exchange_rates` of the 14-day as-of window, with the checks on what it derived.

The facts stay as received: a conversion writes only its own columns (`base_currency`,
`balance_base_currency`, `exchange_rate_used`, `rate_date`, `conversion_note`; the positions'
`*_base_currency` and rate), never a balance, a quantity or a price the broker delivered.
A re-run converts what is still missing and refreshes a day converted at an older rate than
one that now exists (provisional); what is right is left as it is, so re-running is
idempotent. Automation: a day is derived when it appears, when its balances are written, and
when a rate of its window arrives (the provisional refresh), for the last
`AUTOMATION_DAYS` days; older days are a backfill from the asset page.
"""

from datetime import date, timedelta

import dagster as dg
from sqlalchemy import func, select

from wealth_pipeline.conversions.convert import ConversionReport, convert_snapshots
from wealth_pipeline.fx.lookup import LOOKBACK
from wealth_pipeline.partitions import daily_partitions
from wealth_pipeline.sync import checks
from wealth_pipeline.sync.assets import BALANCES, POSITIONS, check_days, check_result
from wealth_pipeline.sync.assets import listed_findings as listed
from wealth_pipeline.warehouse.resource import WarehouseResource
from wealth_pipeline.warehouse.schema import account_snapshots

RATES = dg.AssetKey("exchange_rates")
# A snapshot on day D converts at the newest rate in [D - LOOKBACK, D] (`fx.lookup`): a rate
# of day R concerns the days R .. R + LOOKBACK, so automation looks that far back.
AUTOMATION_DAYS = LOOKBACK.days + 1


def conversion_metadata(report: ConversionReport) -> dict:
    """What a conversion did, as Dagster metadata (counts and grouped reasons, no secrets)."""
    return {
        key: dg.MetadataValue.json(value) if isinstance(value, (dict, list)) else value
        for key, value in report.as_metadata().items()
        if key not in ("selected", "dry_run")
    }


def fail_on_errors(report: ConversionReport) -> None:
    """Fail the step, after what converted was committed, when some rows could not be."""
    if report.errors:
        raise dg.Failure(
            description=f"{len(report.errors)} conversion error(s); first: {report.errors[0]}",
            metadata={"errors": dg.MetadataValue.json(report.errors[:20])},
        )


def converted_condition() -> dg.AutomationCondition:
    """Derive a day when it appears, when its balances or positions are written, and when a
    rate of its as-of window arrives (a late rate: the provisional refresh). Not while its
    facts are being written; a rate run that is still retrying never holds it up."""
    return (
        dg.AutomationCondition.in_latest_time_window(timedelta(days=AUTOMATION_DAYS))
        & (
            dg.AutomationCondition.newly_missing() | dg.AutomationCondition.any_deps_updated()
        ).since_last_handled()
        & ~dg.AutomationCondition.any_deps_in_progress().ignore(dg.AssetSelection.assets(RATES))
        & ~dg.AutomationCondition.in_progress()
    ).with_label("after new balances, positions or rates")


@dg.asset(
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    group_name="conversions",
    kinds={"python", "sql"},
    deps=[
        dg.AssetDep(BALANCES),
        dg.AssetDep(POSITIONS),
        dg.AssetDep(
            RATES,
            partition_mapping=dg.TimeWindowPartitionMapping(
                start_offset=-LOOKBACK.days, end_offset=0
            ),
        ),
    ],
    automation_condition=converted_condition(),
    description=(
        "Every balance and position of the day in its owner's base currency, at the ECB rate "
        f"of the day or the newest of the {LOOKBACK.days} days before (rounded half-even to 4 "
        "places); a snapshot without a rate keeps its reason "
        "(conversion_note). Derived set-based for all the run's days in one transaction, "
        "from the facts as received, which it never changes. Re-deriving is idempotent: a "
        "day converted at an older rate than one that now exists is refreshed."
    ),
    tags={"domain": "conversions"},
)
def converted_snapshots(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    days = sorted(date.fromisoformat(key) for key in context.partition_keys)
    first, last = days[0], days[-1]
    s = account_snapshots
    with warehouse.engine().begin() as connection:
        report = convert_snapshots(connection, start=first, end=last)
        total, converted = connection.execute(
            select(func.count(), func.count(s.c.balance_base_currency)).where(
                s.c.snapshot_date.between(first, last)
            )
        ).one()
    context.log.info(
        f"{first} .. {last}: converted {report.fixed} snapshot(s) and "
        f"{report.positions_fixed} position(s); {report.refreshed} refreshed with their day's "
        f"rate; {len(report.skipped)} without a rate, {len(report.errors)} error(s)"
    )
    for reason, count, since, until in report.skipped_reasons()[:10]:
        context.log.info(f"without a rate {count} ({since}..{until}): {reason}")
    metadata = {
        "dagster/row_count": total,
        "days": f"{first} .. {last}" if first != last else first.isoformat(),
        "snapshots": total,
        "snapshots_converted": converted,
        "snapshots_unconverted": total - converted,
        **conversion_metadata(report),
    }
    fail_on_errors(report)
    return dg.MaterializeResult(metadata=metadata)


@dg.asset_check(
    asset=converted_snapshots,
    partitions_def=daily_partitions,
    description=(
        "Every snapshot of the day is converted into its owner's base currency, or says why "
        "not (conversion_note: no rate yet, unknown currency, a gap in the ECB's series)."
    ),
)
def snapshots_converted_or_explained(
    context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource
) -> dg.AssetCheckResult:
    with warehouse.engine().connect() as connection:
        unexplained, explained = checks.unconverted_snapshots(connection, check_days(context))
    return check_result(
        unexplained,
        dg.AssetCheckSeverity.ERROR,
        "unexplained",
        {"unconverted_with_reason": len(explained), "reasons": listed(explained)},
    )


@dg.asset_check(
    asset=converted_snapshots,
    partitions_def=daily_partitions,
    description=(
        "The positions' market value (base currency) matches the account balance within "
        f"{checks.POSITIONS_TOLERANCE:%} (or {checks.POSITIONS_MINIMUM_TOLERANCE} for small "
        "balances)."
    ),
)
def positions_match_balance(
    context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource
) -> dg.AssetCheckResult:
    with warehouse.engine().connect() as connection:
        found = checks.positions_off_balance(connection, check_days(context))
    return check_result(found, dg.AssetCheckSeverity.WARN, "mismatches")


conversion_checks = [snapshots_converted_or_explained, positions_match_balance]
