"""The weekly projection in Dagster: `wealth_projection`, one partition per week (Monday,
Europe/Berlin), downstream of the marts, with a check on what it wrote.

A partition's week seeds every user's paths (`model.seed_for(user, ISO week)`), so the API,
the report and a re-run of the partition all show the same numbers. Each user is written in
a transaction of their own (a failing user never loses another's rows); the run fails at the
end when any user failed, so it shows in the UI.

No `from __future__ import annotations` here: Dagster reads the config and context annotations.
"""

from datetime import date

import dagster as dg

from wealth_pipeline.clock import TIMEZONE, iso_week
from wealth_pipeline.projection.inputs import ProjectionInputError
from wealth_pipeline.projection.service import (
    NoProjection,
    band_problems,
    project,
    store,
    users_with_net_worth,
)
from wealth_pipeline.warehouse.resource import WarehouseResource

FIRST_WEEK = "2024-01-01"  # a Monday
weekly_partitions = dg.WeeklyPartitionsDefinition(
    start_date=FIRST_WEEK, day_offset=1, timezone=TIMEZONE, end_offset=1
)
UPSTREAM = ("mart_breakdowns", "mart_net_worth_daily")
LISTED = 100
CHECK = dg.AssetCheckSpec(
    "projection_bands_sound",
    asset="wealth_projection",
    description="For every user of the week: the percentile bands are ordered (5 <= 25 <= 50 "
    "<= 75 <= 95) in every month, and month 0 equals that day's net worth in the marts.",
)


class ProjectionConfig(dg.Config):
    users: list[int] = []  # only these user ids (default: everyone with a net worth)  # noqa: RUF012


def week_of(partition_key: str) -> str:
    return iso_week(date.fromisoformat(partition_key))


def inputs_table(rows: list[dict]) -> dg.MetadataValue:
    lines = [
        "| user | method | real return / volatility a year | why | seed | saving | start |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows[:LISTED]:
        parameters = row["parameters"]
        lines.append(
            f"| {row['user_id']} | {row['method']} | {parameters.get('real_return', 0):.4f} / "
            f"{parameters.get('volatility', 0):.4f} | {row['method_reason']} | {row['seed']} "
            f"| {row['monthly_saving']} ({row['saving_source']}) | {row['start_wealth']} |"
        )
    if len(rows) > LISTED:
        lines.append(f"| ... | | | and {len(rows) - LISTED} more | | | |")
    return dg.MetadataValue.md("\n".join(lines))


@dg.asset(
    partitions_def=weekly_partitions,
    deps=[dg.AssetKey(name) for name in UPSTREAM],
    group_name="projection",
    kinds={"python", "numpy", "table"},
    check_specs=[CHECK],
    tags={"domain": "projection"},
    description=(
        "A Monte Carlo projection of every user's net worth in today's money (10,000 paths, "
        "monthly, 50 years), from today's allocation by asset class and the monthly saving, "
        "with each goal's probability and the month one could stop working. Writes the "
        "5/25/50/75/95 % bands per month (projection_bands), per goal "
        "(projection_goal_results) and the inputs (projection_runs)."
    ),
)
def wealth_projection(
    context: dg.AssetExecutionContext, config: ProjectionConfig, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    week = week_of(context.partition_key)
    engine = warehouse.engine()
    with engine.connect() as connection:
        user_ids = config.users or users_with_net_worth(connection)
    inputs, failures, rows = [], [], 0
    for user_id in user_ids:
        try:
            with engine.begin() as connection:
                projection = project(connection, user_id, week)
                rows += store(connection, projection)
        except (NoProjection, ProjectionInputError, ValueError) as error:
            failures.append(f"user {user_id}: {error}")
            context.log.warning(f"user {user_id}: no projection: {error}")
            continue
        inputs.append({"user_id": user_id, **projection.inputs()})
    with engine.connect() as connection:
        problems = band_problems(connection, week)
    check = dg.AssetCheckResult(
        check_name=CHECK.name,
        passed=not problems,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={"problems": len(problems), "first": dg.MetadataValue.json(problems[:10])},
    )
    metadata = {
        "week": week,
        "users": len(inputs),
        "rows_written": rows,
        "failed": len(failures),
        "inputs": inputs_table(inputs),
        "methods": dg.MetadataValue.json(
            {m: sum(1 for i in inputs if i["method"] == m) for m in ("parametric", "bootstrap")}
        ),
        "first_user_inputs": dg.MetadataValue.json(inputs[0] if inputs else {}),
    }
    if failures:
        raise dg.Failure(
            description=f"{len(failures)} user(s) could not be projected (the others were): "
            + "; ".join(failures[:5]),
            metadata=metadata,
        )
    return dg.MaterializeResult(metadata=metadata, check_results=[check])


wealth_projection_job = dg.define_asset_job(
    "wealth_projection_job",
    selection=dg.AssetSelection.assets(wealth_projection),
    description="Project every user's net worth for a week (the partition).",
)


def build_projection_schedule(running: bool) -> dg.ScheduleDefinition:
    """Mondays 18:30 Berlin: this week's partition, before the weekly report (19:00)."""
    return dg.build_schedule_from_partitioned_job(
        wealth_projection_job,
        hour_of_day=18,
        minute_of_hour=30,
        name="wealth_projection_weekly",
        default_status=(
            dg.DefaultScheduleStatus.RUNNING if running else dg.DefaultScheduleStatus.STOPPED
        ),
    )
