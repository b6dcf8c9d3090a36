"""Dagster around the marts: one asset per SQL model, the job that builds them, and what
keeps them fresh: an automation condition (after `converted_snapshots` or the cash flows
change, and at the day's roll-over in Europe/Berlin) and a sensor on the warehouse's change
log for what Dagster cannot see (a base-currency change, a correction job's work).

The models build together in one op (`build_marts`: one transaction), like dbt models in a
`dbt build`: readers never see a net worth that disagrees with the account values, and the
change rows are consumed only when every model has its rows. Each model is its own asset,
with its `ref()`s as dependencies and its rows written as metadata.

No `from __future__ import annotations` here: Dagster reads the config and context annotations.
"""

from datetime import date
from typing import Optional

import dagster as dg
from sqlalchemy import text

from wealth_pipeline.marts.build import MartsError, build_marts
from wealth_pipeline.marts.models import Model, default_models
from wealth_pipeline.partitions import TIMEZONE
from wealth_pipeline.warehouse.resource import WarehouseResource

GROUP = "marts"
SENSOR_INTERVAL_SECONDS = 60
# Warehouse tables written by Dagster assets: a model reading one depends on that asset.
# The marts read balances and positions in their owners' base currency: `converted_snapshots`.
SOURCE_ASSETS = {
    "account_snapshots": "converted_snapshots",
    "portfolio_positions": "converted_snapshots",
    "exchange_rates": "exchange_rates",
    "cash_flows": "account_cash_flows",
}


class MartsConfig(dg.Config):
    """A build as `wealth marts build` does it: by default only what changed."""

    full: bool = False  # rebuild all history (of `users`, default everyone)
    users: list[int] = []  # noqa: RUF012 (Dagster config fields are plain defaults)
    as_of: Optional[str] = None  # noqa: UP045  ISO day; default today in Europe/Berlin


def marts_condition() -> dg.AutomationCondition:
    """Build after the converted snapshots or cash flows change, and once a day after midnight
    in Berlin (the marts run through today); never two builds at once."""
    rates = dg.AssetSelection.assets("exchange_rates")  # they reach the marts as conversions
    return (
        (
            dg.AutomationCondition.newly_missing()
            | dg.AutomationCondition.any_deps_updated().ignore(rates)
            | dg.AutomationCondition.cron_tick_passed("0 0 * * *", TIMEZONE)
        ).since_last_handled()
        & ~dg.AutomationCondition.in_progress()
    ).with_label("after converted snapshots, and at the day's roll-over")


def model_spec(model: Model) -> dg.AssetSpec:
    deps = [
        *model.refs,
        *dict.fromkeys(SOURCE_ASSETS[s] for s in model.sources if s in SOURCE_ASSETS),
    ]
    return dg.AssetSpec(
        key=model.name,
        deps=deps,
        group_name=GROUP,
        kinds={"sql", "table"},
        automation_condition=marts_condition(),
        description=model.description,
        tags={"domain": "marts"},
        metadata={
            "model_file": dg.MetadataValue.path(f"dbt_like_sql/{model.path.name}"),
            "rebuild": model.rebuild,
        },
    )


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"as_of {value!r} is not a date (YYYY-MM-DD)") from None


def build_mart_assets(models: tuple[Model, ...]) -> dg.AssetsDefinition:
    """One multi-asset over `models`: each a spec, all built in one transaction."""

    names = {model.name for model in models}
    checks = [CHECK_SPEC] if {"mart_breakdowns", "mart_net_worth_daily"} <= names else []
    if {"mart_account_daily", "mart_returns_daily"} <= names:
        checks.append(RETURNS_CHECK_SPEC)

    @dg.multi_asset(
        name="marts",
        specs=[model_spec(model) for model in models],
        check_specs=checks,
        can_subset=False,
        # Idempotent, so a transient failure (a lock timeout, a restarting database) retries.
        retry_policy=dg.RetryPolicy(max_retries=2, delay=30, backoff=dg.Backoff.EXPONENTIAL),
        description="Builds every mart model of dbt_like_sql/ in one transaction, per user "
        "only from the earliest changed day (idempotent).",
    )
    def marts(context: dg.AssetExecutionContext, config: MartsConfig, warehouse: WarehouseResource):
        try:
            as_of = None if config.as_of is None else _day(config.as_of)
            report = build_marts(
                warehouse.engine(),
                as_of=as_of,
                full=config.full,
                users=config.users or None,
                models=models,
            )
        except (ValueError, MartsError) as error:  # bad run config: say so, never retry
            raise dg.Failure(description=f"nothing built: {error}", allow_retries=False) from None
        context.log.info(report.describe())
        first = min(report.from_days.values(), default=None)
        for model in models:
            yield dg.MaterializeResult(
                asset_key=model.name,
                metadata={
                    "rows_written": report.rows.get(model.name, 0),
                    "built_through": report.end_day.isoformat(),
                    "users_rebuilt": len(report.from_days),
                    "rebuilt_from": "" if first is None else first.isoformat(),
                    "changes_consumed": report.changes_consumed,
                },
            )
        if CHECK_SPEC in checks:
            yield breakdowns_add_up(warehouse)
        if RETURNS_CHECK_SPEC in checks:
            yield returns_add_up(warehouse)

    return marts


CHECK_SPEC = dg.AssetCheckSpec(
    "breakdowns_add_up",
    asset="mart_breakdowns",
    description="Every breakdown of every user adds up to that user's net worth on the same day.",
)
DIMENSIONS = ("broker", "currency", "account_type", "account", "asset_class")
# Per user with a net worth on the breakdowns' day, every dimension's sum; a dimension with no
# rows at all sums to 0 (so a missing breakdown is found, not skipped).
_MISMATCHES = text(
    "SELECT n.user_id, d.dimension FROM mart_net_worth_daily n CROSS JOIN ("
    + " UNION ALL ".join(f"SELECT '{dimension}' AS dimension" for dimension in DIMENSIONS)
    + ") d LEFT JOIN (SELECT user_id, dimension, SUM(amount) AS amount FROM mart_breakdowns "
    "GROUP BY user_id, dimension) b ON b.user_id = n.user_id AND b.dimension = d.dimension "
    "WHERE n.day = (SELECT built_through FROM mart_builds WHERE model = 'mart_breakdowns') "
    "AND COALESCE(b.amount, 0) <> n.total_wealth ORDER BY n.user_id, d.dimension"
)


def breakdowns_add_up(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    with warehouse.engine().connect() as connection:
        wrong = connection.execute(_MISMATCHES).all()
    return dg.AssetCheckResult(
        check_name=CHECK_SPEC.name,
        asset_key="mart_breakdowns",
        passed=not wrong,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "mismatches": len(wrong),
            "first": dg.MetadataValue.json([{"user_id": u, "dimension": d} for u, d in wrong[:10]]),
        },
    )


RETURNS_CHECK_SPEC = dg.AssetCheckSpec(
    "returns_add_up",
    asset="mart_account_daily",
    description="Every account-day with flow data: flows plus market result are the change in "
    "value, to the cent; every user-day: external flows, transfers in transit, market result "
    "and the change not explained are the change of the total.",
)
_RETURNS_MISMATCHES = text(
    "SELECT user_id, day, account_id FROM mart_account_daily "
    "WHERE covered AND balance_base_currency - value_start <> external_flow + market_result "
    "UNION ALL "
    "SELECT user_id, day, NULL FROM mart_returns_daily WHERE unknown_count = 0 "
    "AND value_end - value_start <> external_flow + internal_transfers + market_result "
    "+ unexplained ORDER BY 1, 2"
)


def returns_add_up(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    with warehouse.engine().connect() as connection:
        wrong = connection.execute(_RETURNS_MISMATCHES).all()
    return dg.AssetCheckResult(
        check_name=RETURNS_CHECK_SPEC.name,
        asset_key="mart_account_daily",
        passed=not wrong,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "mismatches": len(wrong),
            "first": dg.MetadataValue.json(
                [{"user_id": u, "day": str(d), "account_id": a} for u, d, a in wrong[:10]]
            ),
        },
    )


marts_assets = build_mart_assets(default_models())
marts_job = dg.define_asset_job(
    "marts_job",
    selection=dg.AssetSelection.assets(marts_assets),
    description="Bring the marts up to date (run config: full, users, as_of).",
    tags={"wealth/kind": "marts"},
)

_PENDING = text("SELECT COUNT(*), MAX(changed_at) FROM mart_changes")
_ACTIVE = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]


def pending_changes(warehouse: WarehouseResource) -> str | None:
    """Why the marts need a build now (one small query on the change log), None when no
    user's data changed since the last build."""
    with warehouse.engine().connect() as connection:
        changes, last_change = connection.execute(_PENDING).one()
    if changes:
        return f"{changes} user(s) changed, last at {last_change}"
    return None


def building(instance: dg.DagsterInstance, keys: set[dg.AssetKey]) -> dg.DagsterRun | None:
    """A queued or running build of the marts (from the job, automation or a person)."""
    for run in instance.get_runs(filters=dg.RunsFilter(statuses=_ACTIVE), limit=50):
        if run.job_name == marts_job.name or keys & set(run.asset_selection or ()):
            return run
    return None


def build_marts_sensor(interval_seconds: int | None = None) -> dg.SensorDefinition:
    """The change-log sensor, evaluated every `interval_seconds` (default
    SENSOR_INTERVAL_SECONDS; `WEALTH_SENSOR_INTERVAL_SECONDS`)."""

    @dg.sensor(
        name="marts_sensor",
        job=marts_job,
        minimum_interval_seconds=interval_seconds or SENSOR_INTERVAL_SECONDS,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Launches the mart build when the warehouse's change log holds changes "
        "Dagster cannot see (a base-currency change, a correction job, a manual entry); "
        "new conversions and the day's roll-over are the marts' automation condition.",
    )
    def marts_sensor(context: dg.SensorEvaluationContext, warehouse: WarehouseResource):
        reason = pending_changes(warehouse)
        if reason is None:
            return dg.SkipReason("no change waits for the marts")
        running = building(context.instance, set(marts_assets.keys))
        if running is not None:
            return dg.SkipReason(f"{reason}; a build is already running ({running.run_id})")
        return dg.RunRequest(
            run_key=f"marts:{reason}",
            tags={"wealth/trigger": "marts_sensor"},
        )

    return marts_sensor


marts_sensor = build_marts_sensor()
