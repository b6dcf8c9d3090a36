"""The projection's Dagster definitions: `wealth_projection`, its job and weekly schedule."""

import dagster as dg

from wealth_pipeline.projection.assets import (
    build_projection_schedule,
    wealth_projection,
    wealth_projection_job,
)
from wealth_pipeline.settings import Settings


def build_defs(settings: Settings) -> dg.Definitions:
    return dg.Definitions(
        assets=[wealth_projection],
        jobs=[wealth_projection_job],
        schedules=[build_projection_schedule(running=settings.schedules_running)],
    )
