"""The weekly report's Dagster definitions: `weekly_report`, its job and Monday schedule."""

import dagster as dg

from wealth_pipeline.report.assets import (
    build_weekly_report_schedule,
    weekly_report,
    weekly_report_job,
)
from wealth_pipeline.settings import Settings


def build_defs(settings: Settings) -> dg.Definitions:
    return dg.Definitions(
        assets=[weekly_report],
        jobs=[weekly_report_job],
        schedules=[build_weekly_report_schedule(running=settings.schedules_running)],
    )
