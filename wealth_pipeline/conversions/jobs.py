"""Dagster around conversions: a user-scoped job (run config, never a day backfill) and the
sensor that launches it when rates arrive for unconverted snapshots.

No `from __future__ import annotations` here: Dagster reads the config and context annotations.
"""

from datetime import date
from typing import Optional

import dagster as dg

from wealth_pipeline.conversions.convert import convert_snapshots, reconvert_user
from wealth_pipeline.conversions.pending import Watermark, check_pending
from wealth_pipeline.conversions.report import ConversionReport
from wealth_pipeline.warehouse.resource import WarehouseResource

SENSOR_INTERVAL_SECONDS = 120


class ConvertSnapshotsConfig(dg.Config):
    """Which snapshots to convert: all missing ones by default."""

    user_id: Optional[int] = None  # noqa: UP045 (Dagster's config schema wants Optional)
    only_missing: bool = True
    start: Optional[str] = None  # noqa: UP045  ISO day, inclusive
    end: Optional[str] = None  # noqa: UP045  ISO day, inclusive
    limit: Optional[int] = None  # noqa: UP045


class ReconvertUserConfig(dg.Config):
    """The user whose whole history is reconverted (after a base-currency change)."""

    user_id: int


def _record(context: dg.OpExecutionContext, report: ConversionReport) -> dict:
    metadata = report.as_metadata()
    context.log.info(
        f"converted {report.fixed} snapshot(s) and {report.positions_fixed} position(s); "
        f"{report.refreshed} refreshed with their day's rate; {len(report.skipped)} skipped, {len(report.errors)} error(s)"
    )
    for reason, count, first, last in report.skipped_reasons()[:10]:
        context.log.info(f"skipped {count} ({first}..{last}): {reason}")
    context.add_output_metadata(
        {
            key: dg.MetadataValue.json(value) if isinstance(value, (dict, list)) else value
            for key, value in metadata.items()
        }
    )
    if report.errors:
        raise dg.Failure(
            description=f"{len(report.errors)} conversion error(s); first: {report.errors[0]}",
            metadata={"errors": dg.MetadataValue.json(report.errors[:20])},
        )
    return metadata


@dg.op(description="Convert unconverted (or, with only_missing false, all) snapshots, set-based.")
def convert_snapshots_op(
    context: dg.OpExecutionContext, config: ConvertSnapshotsConfig, warehouse: WarehouseResource
) -> dict:
    with warehouse.engine().begin() as connection:
        report = convert_snapshots(
            connection,
            user_ids=None if config.user_id is None else [config.user_id],
            start=None if config.start is None else date.fromisoformat(config.start),
            end=None if config.end is None else date.fromisoformat(config.end),
            only_missing=config.only_missing,
            limit=config.limit,
        )
    return _record(context, report)


@dg.op(description="Reconvert one user's whole history into the current base currency.")
def reconvert_user_op(
    context: dg.OpExecutionContext, config: ReconvertUserConfig, warehouse: WarehouseResource
) -> dict:
    with warehouse.engine().begin() as connection:
        report = reconvert_user(connection, config.user_id)
    return _record(context, report)


@dg.job(
    description="Set-based conversion of snapshots and positions into owners' base currencies "
    "(run config: user_id, only_missing, start, end, limit).",
    tags={"wealth/kind": "conversion"},
)
def convert_snapshots_job() -> None:
    convert_snapshots_op()


@dg.job(
    description="Reconvert one user's whole history (run config: user_id), e.g. after a "
    "base-currency change made outside `wealth users set`.",
    tags={"wealth/kind": "conversion"},
)
def reconvert_user_job() -> None:
    reconvert_user_op()


@dg.sensor(
    job=convert_snapshots_job,
    minimum_interval_seconds=SENSOR_INTERVAL_SECONDS,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Launches the conversion when rates arrive for unconverted snapshots, or for "
    "snapshots converted at an older day's rate.",
)
def conversion_sensor(context: dg.SensorEvaluationContext, warehouse: WarehouseResource):
    seen = Watermark.from_cursor(context.cursor)
    with warehouse.engine().connect() as connection:
        watermark, convertible = check_pending(connection, seen)
    context.update_cursor(watermark.to_cursor())
    if not convertible:
        return dg.SkipReason("no unconverted or provisionally converted snapshot has a new rate")
    return dg.RunRequest(
        run_key=f"convert-r{watermark.rates}-s{watermark.snapshots}",
        run_config=dg.RunConfig(ops={"convert_snapshots_op": ConvertSnapshotsConfig()}),
        tags={"wealth/trigger": "conversion_sensor"},
    )
