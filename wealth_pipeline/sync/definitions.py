"""The sync domain's Dagster definitions: `account_balances` and `account_positions` (one
multi-asset), their checks, the daily sync job and its schedule."""

import dagster as dg

from wealth_pipeline.settings import Settings
from wealth_pipeline.sync.assets import (
    build_daily_sync_schedule,
    daily_sync_job,
    sync_accounts,
    sync_checks,
)


def build_defs(settings: Settings) -> dg.Definitions:
    return dg.Definitions(
        assets=[sync_accounts],
        asset_checks=sync_checks,
        jobs=[daily_sync_job],
        schedules=[
            build_daily_sync_schedule(running=settings.schedules_running, settings=settings)
        ],
    )
