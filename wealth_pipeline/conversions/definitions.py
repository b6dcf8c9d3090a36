"""The conversion domain's Dagster definitions: `converted_snapshots` (kept current by its
automation condition), its checks, and the per-user reconversion job."""

import dagster as dg

from wealth_pipeline.conversions.assets import conversion_checks, converted_snapshots
from wealth_pipeline.conversions.jobs import reconvert_user_job
from wealth_pipeline.settings import Settings


def build_defs(settings: Settings) -> dg.Definitions:
    return dg.Definitions(
        assets=[converted_snapshots], asset_checks=conversion_checks, jobs=[reconvert_user_job]
    )
