"""The weekly report's projection section: the fan chart of the next 30 years, one line per
goal and the stop-working answer, from the same projection the API answers for the week
(`projection.service.project`, seeded per user and ISO week). Kept apart from the rest of
the report so it reads and renders on its own."""

from __future__ import annotations

from datetime import date
from typing import Any

from dateutil.relativedelta import relativedelta
from sqlalchemy import Connection

from wealth_pipeline.projection import present
from wealth_pipeline.projection.inputs import ProjectionInputError
from wealth_pipeline.projection.service import NoProjection, Projection, project
from wealth_pipeline.report.charts import FAN_YEARS

SUMMARY_YEARS = (10, 30)


def load_projection(connection: Connection, user_id: int, week: str) -> Projection | None:
    """This week's projection, or None when there is nothing to project (no net worth)."""
    try:
        return project(connection, user_id, week)
    except (NoProjection, ProjectionInputError):
        return None


def fan_points(projection: Projection) -> list[tuple[date, tuple]]:
    return [(band.day, band.values) for band in projection.bands[: FAN_YEARS * 12 + 1]]


def context(projection: Projection) -> dict[str, Any]:
    """The section as text (every figure formatted once, here)."""
    currency = projection.base_currency
    medians = []
    for years in SUMMARY_YEARS:
        if years * 12 < len(projection.bands):
            band = projection.bands[years * 12]
            low, _, median, _, high = band.values
            medians.append(
                f"In {years} years ({band.day:%Y}): median {present.whole(median, currency)}, "
                f"5-95 % {present.whole(low, currency)} to {present.whole(high, currency)}"
            )
    until = projection.as_of + relativedelta(years=FAN_YEARS)
    return {
        "title": "Where this is heading",
        "subtitle": f"Net worth in today's {currency}, {projection.paths:,} simulated paths "
        f"to {until:%Y}",
        "medians": medians,
        "goals": [
            present.goal_line(goal, projection.saving.monthly, currency)
            for goal in projection.goals
        ],
        "stop_working": []
        if projection.stop_working is None
        else present.stop_working_lines(projection.stop_working, currency),
        "assumptions": f"Saving {present.whole(projection.saving.monthly, currency)} a month "
        f"({projection.saving.detail}); returns {present.method_line(projection)}; "
        f"inflation {float(projection.inflation) * 100:.1f} % a year.",
        "disclaimer": present.DISCLAIMER,
        "alt": f"Projected net worth over the next {FAN_YEARS} years: " + "; ".join(medians),
    }
