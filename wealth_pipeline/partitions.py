"""The one daily partitions definition every daily asset shares.

A partition is a calendar day of the pipeline's clock (`clock.TIMEZONE`). `end_offset=1`
makes today's partition exist from midnight, so the evening runs (rates after the ECB
publishes ~16:00 CET, the daily sync) write the same day they run on.
"""

import dagster as dg

from wealth_pipeline.clock import TIMEZONE

FIRST_DAY = "1999-01-04"  # the ECB's first reference rates

daily_partitions = dg.DailyPartitionsDefinition(
    start_date=FIRST_DAY, timezone=TIMEZONE, end_offset=1
)
