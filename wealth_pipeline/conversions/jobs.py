"""The per-user correction: reconvert one user's whole history (after a base-currency
change) as a job with run config, never a backfill over thousands of day partitions. The
daily conversions are the `converted_snapshots` asset (`conversions.assets`).

No `from __future__ import annotations` here: Dagster reads the config and context annotations.
"""

import dagster as dg

from wealth_pipeline.conversions.assets import conversion_metadata, fail_on_errors
from wealth_pipeline.conversions.convert import reconvert_user
from wealth_pipeline.conversions.report import ConversionReport
from wealth_pipeline.warehouse.resource import WarehouseResource


class ReconvertUserConfig(dg.Config):
    """The user whose whole history is reconverted (after a base-currency change)."""

    user_id: int


def _record(context: dg.OpExecutionContext, report: ConversionReport, user_id: int) -> dict:
    """The run's record of what it changed: counts, reasons and the earliest day changed."""
    context.log.info(
        f"user {user_id}: converted {report.fixed} snapshot(s) and {report.positions_fixed} "
        f"position(s); {len(report.skipped)} skipped, {len(report.errors)} error(s)"
    )
    for reason, count, first, last in report.skipped_reasons()[:10]:
        context.log.info(f"skipped {count} ({first}..{last}): {reason}")
    earliest = report.earliest_by_user.get(user_id)
    metadata = {
        "user_id": user_id,
        "changed_from": "" if earliest is None else earliest.isoformat(),
        **conversion_metadata(report),
    }
    context.add_output_metadata(metadata)
    fail_on_errors(report)
    return report.as_metadata()


@dg.op(description="Reconvert one user's whole history into the current base currency.")
def reconvert_user_op(
    context: dg.OpExecutionContext, config: ReconvertUserConfig, warehouse: WarehouseResource
) -> dict:
    with warehouse.engine().begin() as connection:
        report = reconvert_user(connection, config.user_id)
    return _record(context, report, config.user_id)


@dg.job(
    description="Reconvert one user's whole history (run config: user_id), e.g. after a "
    "base-currency change made outside `wealth users set`.",
    tags={"wealth/kind": "conversion"},
)
def reconvert_user_job() -> None:
    reconvert_user_op()
