"""The TARGET calendar: the days the ECB publishes no reference rates."""

from __future__ import annotations

from datetime import date, timedelta

from dateutil.easter import easter

# Special closing days of TARGET's early years (besides the regular holidays).
SPECIAL_CLOSING_DAYS = frozenset({date(1999, 12, 31), date(2001, 12, 31)})


def target_holiday(day: date) -> str | None:
    """The name of the TARGET holiday on `day`, or None on a business day or weekend."""
    if day in SPECIAL_CLOSING_DAYS:
        return "TARGET closing day"
    if (day.month, day.day) == (1, 1):
        return "New Year's Day"
    if (day.month, day.day) == (12, 25):
        return "Christmas Day"
    if day.year < 2000:  # TARGET's first year closed on the two days above only
        return None
    if (day.month, day.day) == (5, 1):
        return "Labour Day"
    if (day.month, day.day) == (12, 26):
        return "Christmas holiday"
    sunday = easter(day.year)
    if day == sunday - timedelta(days=2):
        return "Good Friday"
    if day == sunday + timedelta(days=1):
        return "Easter Monday"
    return None


def no_publication_reason(day: date) -> str | None:
    """Why the ECB publishes nothing on `day` (weekend or TARGET holiday), else None."""
    if day.weekday() >= 5:
        return "weekend"
    holiday = target_holiday(day)
    return f"TARGET holiday ({holiday})" if holiday else None
