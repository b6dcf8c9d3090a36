"""The Dagster definitions: what `workspace.yaml` loads for the webserver and the daemon."""

from __future__ import annotations

import os
from dataclasses import replace

import dagster as dg
from sqlalchemy.engine import make_url

from wealth_pipeline.conversions.jobs import (
    conversion_sensor,
    convert_snapshots_job,
    reconvert_user_job,
)
from wealth_pipeline.flows.assets import account_cash_flows, flows_checks
from wealth_pipeline.fx.assets import (
    build_exchange_rates_schedule,
    exchange_rates,
    exchange_rates_job,
)
from wealth_pipeline.fx.sources import RatesSource, source_for
from wealth_pipeline.history.jobs import history_backfill_job, new_account_history_sensor
from wealth_pipeline.marts.assets import marts_assets, marts_job, marts_sensor
from wealth_pipeline.projection.assets import (
    build_projection_schedule,
    wealth_projection,
    wealth_projection_job,
)
from wealth_pipeline.report.assets import (
    MailResource,
    build_weekly_report_schedule,
    weekly_report,
    weekly_report_job,
)
from wealth_pipeline.settings import Settings, load_settings
from wealth_pipeline.sync.assets import (
    account_snapshots,
    build_daily_sync_schedule,
    daily_sync_job,
    sync_checks,
    sync_resource,
)
from wealth_pipeline.warehouse.resource import WarehouseResource


def from_env(name: str, value: str) -> str | dg.EnvVar:
    """`value` as `dg.EnvVar(name)` when it came from that environment variable.

    Dagster stores and shows a resource's configuration: an EnvVar appears as the
    variable's name, its value is read only where the resource runs. So a setting that may
    hold a secret (a database password, credentials in a URL) never reaches the UI, the
    stored definitions or a run's config.
    """
    if os.environ.get(name, "").strip() == value:
        return dg.EnvVar(name)
    return value


def database_url(settings: Settings) -> str | dg.EnvVar:
    """The warehouse URL for the resource: from WEALTH_DATABASE_URL as an EnvVar; a URL
    given otherwise (tests, the SQLite default) only without a password."""
    chosen = from_env("WEALTH_DATABASE_URL", settings.database_url)
    if not isinstance(chosen, dg.EnvVar) and make_url(chosen).password:
        raise ValueError(
            "a warehouse URL with a password must come from WEALTH_DATABASE_URL, so that "
            "Dagster shows the variable's name and never the password"
        )
    return chosen


def rates_source(settings: Settings, *, env_vars: bool = False) -> RatesSource:
    """The configured rate source; with `env_vars` (for Dagster) its locations as EnvVars
    when set in the environment (a URL may carry credentials). Without, usable directly."""
    if env_vars:
        settings = replace(
            settings,
            frankfurter_url=from_env("WEALTH_FRANKFURTER_URL", settings.frankfurter_url),
            ecb_file=from_env("WEALTH_ECB_FILE", settings.ecb_file),
        )
    return source_for(settings)


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
        "fx_source": rates_source(settings, env_vars=True),
        "warehouse": WarehouseResource(database_url=database_url(settings)),
        "sync": sync_resource(settings),
        "mail": MailResource(),
    }


def build_definitions(settings: Settings | None = None) -> dg.Definitions:
    settings = settings or load_settings()
    return dg.Definitions(
        assets=[
            exchange_rates,
            account_snapshots,
            account_cash_flows,
            marts_assets,
            weekly_report,
            wealth_projection,
        ],
        asset_checks=[*sync_checks, *flows_checks],
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
                running=settings.schedules_running,
                cron_schedule=settings.fx_refresh_cron,
                settings=settings,
            ),
            build_daily_sync_schedule(running=settings.schedules_running, settings=settings),
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
