"""The marts' Dagster definitions: one asset per SQL model (kept current by their
automation condition), the build job, and the sensor on the warehouse's change log."""

import dagster as dg

from wealth_pipeline.marts.assets import build_marts_sensor, marts_assets, marts_job
from wealth_pipeline.settings import Settings


def build_defs(settings: Settings) -> dg.Definitions:
    return dg.Definitions(
        assets=[marts_assets],
        jobs=[marts_job],
        sensors=[build_marts_sensor(settings.sensor_interval_seconds)],
    )
