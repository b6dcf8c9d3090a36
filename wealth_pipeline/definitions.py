"""The Dagster definitions: what `workspace.yaml` loads for the webserver and the daemon."""

from __future__ import annotations

import dagster as dg

from wealth_pipeline.conversions.jobs import (
    conversion_sensor,
    convert_snapshots_job,
    reconvert_user_job,
)
from wealth_pipeline.fx.assets import (
    build_exchange_rates_schedule,
    exchange_rates,
    exchange_rates_job,
)
from wealth_pipeline.fx.sources import EcbFileRates, FrankfurterRates, RatesSource
from wealth_pipeline.history.jobs import history_backfill_job, new_account_history_sensor
from wealth_pipeline.mail import MailResource
from wealth_pipeline.marts.assets import marts_assets, marts_job, marts_sensor
from wealth_pipeline.projection.assets import (
    build_projection_schedule,
    wealth_projection,
    wealth_projection_job,
)
from wealth_pipeline.report.assets import (
    build_weekly_report_schedule,
    weekly_report,
    weekly_report_job,
)
from wealth_pipeline.settings import Settings, load_settings
from wealth_pipeline.sync.assets import (
    SyncResource,
    account_snapshots,
    build_daily_sync_schedule,
    daily_sync_job,
    sync_checks,
)
from wealth_pipeline.warehouse.resource import WarehouseResource


def rates_source(settings: Settings) -> RatesSource:
    common = {
        "timeout_seconds": settings.http_timeout_seconds,
        "max_attempts": settings.http_max_attempts,
        "backoff_seconds": settings.http_backoff_seconds,
    }
    if settings.fx_source == "frankfurter":
        return FrankfurterRates(base_url=settings.frankfurter_url, **common)
    return EcbFileRates(location=settings.ecb_file, **common)


def every(sensor: dg.SensorDefinition, seconds: int | None) -> dg.SensorDefinition:
    """`sensor` evaluated at most every `seconds` (`WEALTH_SENSOR_INTERVAL_SECONDS`)."""
    if seconds is None:
        return sensor
    return dg.SensorDefinition(
        name=sensor.name,
        evaluation_fn=sensor._raw_fn,  # the function the decorator wrapped
        minimum_interval_seconds=seconds,
        description=sensor.description,
        job=sensor.job,
        default_status=sensor.default_status,
        # Keys named in the decorator (keys taken as function arguments come with the function).
        required_resource_keys=set(sensor._raw_required_resource_keys) or None,
        tags=sensor.tags,
        metadata=sensor.metadata,
        owners=sensor.owners,
    )


def resources(settings: Settings) -> dict[str, dg.ConfigurableResource]:
    return {
        "fx_source": rates_source(settings),
        "warehouse": WarehouseResource(database_url=settings.database_url),
        "sync": SyncResource(sync_key_file=str(settings.sync_key_file)),
        "mail": MailResource(),
    }


def build_definitions(settings: Settings | None = None) -> dg.Definitions:
    settings = settings or load_settings()
    return dg.Definitions(
        assets=[exchange_rates, account_snapshots, marts_assets, weekly_report, wealth_projection],
        asset_checks=sync_checks,
        jobs=[
            exchange_rates_job,
            daily_sync_job,
            convert_snapshots_job,
            reconvert_user_job,
            history_backfill_job,
            marts_job,
            weekly_report_job,
            wealth_projection_job,
        ],
        schedules=[
            build_exchange_rates_schedule(
                running=settings.schedules_running, cron_schedule=settings.fx_refresh_cron
            ),
            build_daily_sync_schedule(running=settings.schedules_running),
            build_weekly_report_schedule(running=settings.schedules_running),
            build_projection_schedule(running=settings.schedules_running),
        ],
        sensors=[
            every(sensor, settings.sensor_interval_seconds)
            for sensor in (conversion_sensor, new_account_history_sensor, marts_sensor)
        ],
        resources=resources(settings),
    )


defs = build_definitions()
