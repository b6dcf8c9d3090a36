"""The pipeline's clock: the time zone its days are in (Europe/Berlin) and "today" there.

Every calendar day the pipeline names (a partition, the marts' end day, the report's week,
"today" for a broker or a CSV import) is a day in this zone, computed here only. Moments
are stored as UTC; SQLite hands them back without an offset, `as_utc` puts it back.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

TIMEZONE = "Europe/Berlin"  # the name Dagster's partitions and schedules take
ZONE = ZoneInfo(TIMEZONE)


def now() -> datetime:
    """The current moment, in UTC."""
    return datetime.now(UTC)


def as_utc(moment: datetime) -> datetime:
    """`moment` with its offset; a naive one (SQLite's) is UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def local(moment: datetime) -> datetime:
    """`moment` on the pipeline's wall clock."""
    return as_utc(moment).astimezone(ZONE)


def day_of(moment: datetime) -> date:
    """The pipeline's calendar day at `moment`."""
    return local(moment).date()


def today(at: datetime | None = None) -> date:
    """Today in the pipeline's time zone (at `at`, default: now)."""
    return day_of(at or now())


def iso_week(day: date) -> str:
    """The ISO week of `day`, `2026-W49`: what the weekly report and its projection are keyed by."""
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"
