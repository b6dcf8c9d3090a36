"""The TARGET calendar: the days the ECB publishes no reference rates."""

from __future__ import annotations

import csv
import itertools
from datetime import date, timedelta

import pytest

from tests.support.data import ECB_SAMPLE
from wealth_pipeline.fx.calendar import no_publication_reason, target_holiday

# Easter Sunday by year (independently of dateutil): Good Friday is two days before,
# Easter Monday the day after.
EASTER = {
    2000: date(2000, 4, 23),
    2005: date(2005, 3, 27),
    2008: date(2008, 3, 23),
    2011: date(2011, 4, 24),
    2019: date(2019, 4, 21),
    2022: date(2022, 4, 17),
    2023: date(2023, 4, 9),
    2024: date(2024, 3, 31),
    2025: date(2025, 4, 20),
    2026: date(2026, 4, 5),
}


@pytest.mark.parametrize("year", sorted(EASTER))
def test_good_friday_and_easter_monday(year: int) -> None:
    sunday = EASTER[year]
    assert target_holiday(sunday - timedelta(days=2)) == "Good Friday"
    assert target_holiday(sunday + timedelta(days=1)) == "Easter Monday"
    assert no_publication_reason(sunday - timedelta(days=2)) == "TARGET holiday (Good Friday)"
    assert no_publication_reason(sunday + timedelta(days=1)) == "TARGET holiday (Easter Monday)"
    # Maundy Thursday and the Tuesday after are business days.
    assert no_publication_reason(sunday - timedelta(days=3)) is None
    assert no_publication_reason(sunday + timedelta(days=2)) is None
    assert target_holiday(sunday) is None  # a Sunday: a weekend, not a holiday
    assert no_publication_reason(sunday) == "weekend"


@pytest.mark.parametrize("year", [2000, 2001, 2015, 2023, 2024, 2025, 2026])
def test_fixed_holidays(year: int) -> None:
    assert target_holiday(date(year, 1, 1)) == "New Year's Day"
    assert target_holiday(date(year, 5, 1)) == "Labour Day"
    assert target_holiday(date(year, 12, 25)) == "Christmas Day"
    assert target_holiday(date(year, 12, 26)) == "Christmas holiday"
    for day in (date(year, 12, 24), date(year, 1, 2), date(year, 4, 30), date(year, 5, 2)):
        assert target_holiday(day) is None, day


def test_weekends_come_first() -> None:
    assert no_publication_reason(date(2024, 1, 13)) == "weekend"  # Saturday
    assert no_publication_reason(date(2024, 1, 14)) == "weekend"  # Sunday
    assert no_publication_reason(date(2021, 12, 25)) == "weekend"  # Christmas on a Saturday
    assert no_publication_reason(date(2022, 1, 1)) == "weekend"  # New Year on a Saturday
    assert no_publication_reason(date(2024, 1, 15)) is None  # an ordinary Monday


def test_holiday_reasons() -> None:
    assert no_publication_reason(date(2024, 1, 1)) == "TARGET holiday (New Year's Day)"
    assert no_publication_reason(date(2024, 5, 1)) == "TARGET holiday (Labour Day)"
    assert no_publication_reason(date(2023, 12, 25)) == "TARGET holiday (Christmas Day)"
    assert no_publication_reason(date(2023, 12, 26)) == "TARGET holiday (Christmas holiday)"


def test_1999_had_only_new_year_and_christmas_day() -> None:
    assert target_holiday(date(1999, 1, 1)) == "New Year's Day"
    assert target_holiday(date(1999, 12, 25)) is not None
    # Easter 1999 was 4 April: Good Friday and Easter Monday were business days.
    assert no_publication_reason(date(1999, 4, 2)) is None
    assert no_publication_reason(date(1999, 4, 5)) is None
    # 1 May 1999 was a Saturday anyway; 26 December 1999 a Sunday. Monday 27th was open.
    assert target_holiday(date(1999, 5, 1)) is None
    assert no_publication_reason(date(1999, 12, 27)) is None


def test_special_closing_days() -> None:
    for day in (date(1999, 12, 31), date(2001, 12, 31)):
        assert target_holiday(day) == "TARGET closing day"
        assert no_publication_reason(day) == "TARGET holiday (TARGET closing day)"
    # Other New Year's Eves are business days.
    for day in (date(2002, 12, 31), date(2024, 12, 31), date(2025, 12, 31), date(2008, 12, 31)):
        assert no_publication_reason(day) is None, day


def test_the_first_ecb_day_is_a_business_day() -> None:
    assert no_publication_reason(date(1999, 1, 4)) is None


def test_the_sample_publishes_exactly_on_target_business_days() -> None:
    """Within each window of the ECB sample, a day has rates iff TARGET was open."""
    with ECB_SAMPLE.open(newline="", encoding="utf-8") as handle:
        published = {date.fromisoformat(row[0]) for row in list(csv.reader(handle))[1:] if row}
    days = sorted(published)
    windows, start = [], days[0]
    for previous, day in itertools.pairwise(days):
        if (day - previous).days > 10:  # a jump between windows of the sample
            windows.append((start, previous))
            start = day
    windows.append((start, days[-1]))
    assert len(windows) == 8
    checked = 0
    for first, last in windows:
        day = first
        while day <= last:
            assert (day in published) == (no_publication_reason(day) is None), day
            day += timedelta(days=1)
            checked += 1
    assert checked > 350
