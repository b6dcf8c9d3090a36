"""The exchange-rate domain's Dagster definitions: `exchange_rates`, its job and schedule."""

import dagster as dg

from wealth_pipeline.fx.assets import (
    build_exchange_rates_schedule,
    exchange_rates,
    exchange_rates_job,
)
from wealth_pipeline.settings import Settings


def build_defs(settings: Settings) -> dg.Definitions:
    return dg.Definitions(
        assets=[exchange_rates],
        jobs=[exchange_rates_job],
        schedules=[
            build_exchange_rates_schedule(
                running=settings.schedules_running,
                cron_schedule=settings.fx_refresh_cron,
                settings=settings,
            )
        ],
    )
