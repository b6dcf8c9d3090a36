"""`clock`: every day the pipeline names is a day in Europe/Berlin, whatever the server's zone."""

from datetime import UTC, date, datetime, timedelta, timezone

from wealth_pipeline import clock


def test_today_is_berlins_day_across_midnight_and_daylight_saving() -> None:
    # 23:30 UTC is already the next day in Berlin: 00:30 in winter (CET), 01:30 in summer.
    assert clock.today(datetime(2026, 1, 14, 23, 30, tzinfo=UTC)) == date(2026, 1, 15)
    assert clock.today(datetime(2026, 7, 14, 22, 30, tzinfo=UTC)) == date(2026, 7, 15)
    assert clock.today(datetime(2026, 7, 14, 21, 59, tzinfo=UTC)) == date(2026, 7, 14)
    # The night the clocks go back (01:00 UTC): 00:30 UTC is 02:30 CEST, the 25th.
    assert clock.today(datetime(2026, 10, 25, 0, 30, tzinfo=UTC)) == date(2026, 10, 25)


def test_a_moment_in_another_zone_counts_as_the_same_instant() -> None:
    new_york = timezone(timedelta(hours=-5))
    assert clock.day_of(datetime(2026, 3, 1, 19, 0, tzinfo=new_york)) == date(2026, 3, 2)


def test_naive_moments_are_utc_as_sqlite_hands_them_back() -> None:
    naive = datetime(2026, 12, 31, 23, 15)
    assert clock.as_utc(naive) == datetime(2026, 12, 31, 23, 15, tzinfo=UTC)
    assert clock.day_of(naive) == date(2027, 1, 1)
    assert clock.local(naive).utcoffset() == timedelta(hours=1)


def test_now_is_aware_utc() -> None:
    assert clock.now().utcoffset() == timedelta(0)
