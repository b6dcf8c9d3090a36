"""The history domain's Dagster definitions: the account-scoped backfill job and the sensor
that launches it for new accounts (accounts are added outside Dagster)."""

import dagster as dg

from wealth_pipeline.history.jobs import build_new_account_history_sensor, history_backfill_job
from wealth_pipeline.settings import Settings


def build_defs(settings: Settings) -> dg.Definitions:
    return dg.Definitions(
        jobs=[history_backfill_job],
        sensors=[build_new_account_history_sensor(settings.sensor_interval_seconds)],
    )
