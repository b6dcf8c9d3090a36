"""Dagster around the marts: one asset per SQL model, the job that builds them, and the
sensor that keeps them fresh.

The models build together in one op (`build_marts`: one transaction), like dbt models in a
`dbt build`: readers never see a net worth that disagrees with the account values, and the
change rows are consumed only when every model has its rows. Each model is its own asset,
with its `ref()`s as dependencies and its rows written as metadata.

No `from __future__ import annotations` here: Dagster reads the config and context annotations.
"""

from datetime import date
from typing import Optional

import dagster as dg
from sqlalchemy import bindparam, text

from wealth_pipeline.clock import today
from wealth_pipeline.marts.build import MartsError, build_marts
from wealth_pipeline.marts.models import Model, default_models
from wealth_pipeline.warehouse.resource import WarehouseResource

GROUP = "marts"
SENSOR_INTERVAL_SECONDS = 60
# Warehouse tables written by Dagster assets: a model reading one depends on that asset.
SOURCE_ASSETS = {
    "account_snapshots": "account_snapshots",
    "portfolio_positions": "account_snapshots",
    "exchange_rates": "exchange_rates",
    "cash_flows": "account_cash_flows",
}


class MartsConfig(dg.Config):
    """A build as `wealth marts build` does it: by default only what changed."""

    full: bool = False  # rebuild all history (of `users`, default everyone)
    users: list[int] = []  # noqa: RUF012 (Dagster config fields are plain defaults)
    as_of: Optional[str] = None  # noqa: UP045  ISO day; default today in Europe/Berlin


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
    if {"mart_account_returns_daily", "mart_returns_daily"} <= names:
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
    asset="mart_account_returns_daily",
    description="Every account-day with flow data: flows plus market result are the change in "
    "value, to the cent; every user-day: external flows, transfers in transit, market result "
    "and the change not explained are the change of the total.",
)
_RETURNS_MISMATCHES = text(
    "SELECT user_id, day, account_id FROM mart_account_returns_daily "
    "WHERE covered AND value_end - value_start <> external_flow + market_result "
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
        asset_key="mart_account_returns_daily",
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

_PENDING = text(
    "SELECT (SELECT COUNT(*) FROM mart_changes), "
    "(SELECT MAX(changed_at) FROM mart_changes), "
    "(SELECT MIN(built_through) FROM mart_builds WHERE model IN :models), "
    "(SELECT COUNT(*) FROM mart_builds WHERE model IN :models)"
).bindparams(bindparam("models", expanding=True))
_ACTIVE = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]


def pending_build(warehouse: WarehouseResource, models: list[str], end_day: date) -> str | None:
    """Why the marts need a build now (one small query), None when they are fresh."""
    with warehouse.engine().connect() as connection:
        changes, last_change, built_through, built = connection.execute(
            _PENDING, {"models": models}
        ).one()
    if built < len(models) or built_through is None:
        return "never built"
    if isinstance(built_through, str):  # SQLite hands back the stored text
        built_through = date.fromisoformat(built_through)
    if changes:
        return f"{changes} user(s) changed, last at {last_change}"
    if built_through != end_day:
        return f"built through {built_through}, today is {end_day}"
    return None


@dg.sensor(
    job=marts_job,
    minimum_interval_seconds=SENSOR_INTERVAL_SECONDS,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Launches the mart build when data changed (new snapshots, imports, "
    "conversions, a base-currency change) or the day advanced.",
)
def marts_sensor(context: dg.SensorEvaluationContext, warehouse: WarehouseResource):
    end_day = today()
    reason = pending_build(warehouse, [key.path[-1] for key in marts_assets.keys], end_day)
    if reason is None:
        return dg.SkipReason(f"marts are fresh through {end_day}")
    running = context.instance.get_runs(
        filters=dg.RunsFilter(job_name=marts_job.name, statuses=_ACTIVE), limit=1
    )
    if running:
        return dg.SkipReason(f"{reason}; a build is already running ({running[0].run_id})")
    return dg.RunRequest(
        run_key=f"marts:{end_day}:{reason}",
        tags={"wealth/trigger": "marts_sensor"},
    )
