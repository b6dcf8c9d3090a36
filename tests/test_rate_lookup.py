"""The one rate lookup (`wealth_pipeline.fx.lookup`), on rates loaded the real way.

Rates reach the warehouse by materializing the `exchange_rates` asset from the ECB sample;
every expectation is computed here, independently, from the sample file itself (read with
the csv module, divided as Fractions, rounded half-even with Python's own `round`).
"""

from __future__ import annotations

import csv
from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction

import dagster as dg
import pytest

from tests.support.data import ECB_SAMPLE
from wealth_pipeline.fx.assets import exchange_rates
from wealth_pipeline.fx.lookup import FxRate, NoRate, RateBook, rate
from wealth_pipeline.fx.sources import EcbFileRates
from wealth_pipeline.warehouse.engine import get_engine
from wealth_pipeline.warehouse.resource import WarehouseResource


def _read_sample() -> dict[date, dict[str, Decimal]]:
    with ECB_SAMPLE.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    header = rows[0]
    sample: dict[date, dict[str, Decimal]] = {}
    for row in rows[1:]:
        if not row:
            continue
        sample[date.fromisoformat(row[0])] = {
            code: Decimal(cell)
            for code, cell in zip(header[1:], row[1:], strict=False)
            if code and cell not in ("", "N/A")
        }
    return sample


SAMPLE = _read_sample()


def round12(value: Fraction) -> Decimal:
    """Half-even to 12 places, by Python's `round` on an exact Fraction (not money.quantize)."""
    return Decimal(round(value * 10**12)).scaleb(-12)


def load(warehouse_url: str, start: str, end: str | None = None) -> None:
    """Materialize `exchange_rates` from the ECB sample for [start, end] (one run)."""
    resources = {
        "fx_source": EcbFileRates(location=str(ECB_SAMPLE)),
        "warehouse": WarehouseResource(database_url=warehouse_url),
    }
    if end is None or end == start:
        result = dg.materialize([exchange_rates], resources=resources, partition_key=start)
    else:
        result = dg.materialize(
            [exchange_rates],
            resources=resources,
            tags={
                "dagster/asset_partition_range_start": start,
                "dagster/asset_partition_range_end": end,
            },
        )
    assert result.success


def lookup(warehouse_url: str, source: str, target: str, day: date) -> FxRate | NoRate:
    with get_engine(warehouse_url).connect() as connection:
        return rate(connection, source, target, day)


def found(result: FxRate | NoRate) -> FxRate:
    assert isinstance(result, FxRate), f"expected a rate, got {result}"
    return result


def missing(result: FxRate | NoRate) -> NoRate:
    assert isinstance(result, NoRate), f"expected no rate, got {result}"
    assert not result
    assert not hasattr(result, "rate")  # never a stand-in rate
    return result


# --- around Christmas and New Year 2023/24 ---------------------------------------------


@pytest.fixture
def winter(warehouse_url: str) -> str:
    load(warehouse_url, "2023-12-20", "2024-01-16")
    return warehouse_url


def test_weekday_uses_that_days_published_rate(winter: str) -> None:
    day = date(2024, 1, 15)
    result = found(lookup(winter, "EUR", "USD", day))
    assert result.rate == SAMPLE[day]["USD"] == Decimal("1.0945")
    assert result.rate.as_tuple().exponent == -12
    assert (result.from_currency, result.to_currency, result.day) == ("EUR", "USD", day)
    assert result.rate_date == day


def test_weekend_uses_fridays_rate(winter: str) -> None:
    friday = date(2024, 1, 12)
    for day in (date(2024, 1, 13), date(2024, 1, 14)):
        result = found(lookup(winter, "EUR", "JPY", day))
        assert result.rate == SAMPLE[friday]["JPY"]
        assert result.rate_date == friday
        assert result.day == day


def test_christmas_and_new_year_use_previous_business_day(winter: str) -> None:
    for day, business_day in [
        (date(2023, 12, 25), date(2023, 12, 22)),  # Christmas Day
        (date(2023, 12, 26), date(2023, 12, 22)),  # Christmas holiday
        (date(2024, 1, 1), date(2023, 12, 29)),  # New Year's Day
    ]:
        assert day not in SAMPLE and business_day in SAMPLE
        result = found(lookup(winter, "USD", "GBP", day))
        assert result.rate_date == business_day, day
        assert result.rate == round12(
            Fraction(SAMPLE[business_day]["GBP"]) / Fraction(SAMPLE[business_day]["USD"])
        )


def test_cross_is_one_exact_division_rounded_half_even(winter: str) -> None:
    for offset in range(14):
        day = date(2024, 1, 2) + timedelta(days=offset)
        business_day = max(d for d in SAMPLE if d <= day)
        usd, gbp = SAMPLE[business_day]["USD"], SAMPLE[business_day]["GBP"]
        forward = found(lookup(winter, "USD", "GBP", day))
        inverse = found(lookup(winter, "GBP", "USD", day))
        assert forward.rate == round12(Fraction(gbp) / Fraction(usd)), day
        assert inverse.rate == round12(Fraction(usd) / Fraction(gbp)), day
        assert forward.rate_date == inverse.rate_date == business_day
        assert forward.rate.as_tuple().exponent == inverse.rate.as_tuple().exponent == -12
    # The inverse is its own exact division, not 1 / (a rounded forward rate).
    day = date(2024, 1, 15)
    forward = found(lookup(winter, "USD", "GBP", day))
    inverse = found(lookup(winter, "GBP", "USD", day))
    assert inverse.rate == round12(Fraction(SAMPLE[day]["USD"]) / Fraction(SAMPLE[day]["GBP"]))
    assert forward.rate * inverse.rate != 1


def test_eur_legs_are_exactly_as_published(winter: str) -> None:
    day = date(2024, 1, 15)
    for code, published in SAMPLE[day].items():
        to_code = found(lookup(winter, "EUR", code, day))
        assert to_code.rate == published, code
        assert str(to_code.rate) == str(published.quantize(Decimal("1e-12"))), code
        from_code = found(lookup(winter, code, "EUR", day))
        assert from_code.rate == round12(1 / Fraction(published)), code


def test_lowercase_codes_are_accepted(winter: str) -> None:
    day = date(2024, 1, 15)
    result = found(lookup(winter, "usd", "gbp", day))
    assert (result.from_currency, result.to_currency) == ("USD", "GBP")
    assert result.rate == found(lookup(winter, "USD", "GBP", day)).rate


def test_convert_rounds_once_half_even_to_four_places(winter: str) -> None:
    day = date(2024, 1, 15)
    usd_gbp = found(lookup(winter, "USD", "GBP", day))
    amount = Decimal("1234.5678")
    exact = Fraction(amount) * Fraction(usd_gbp.rate)
    expected = Decimal(round(exact * 10**4)).scaleb(-4)
    assert usd_gbp.convert(amount) == expected
    assert usd_gbp.convert(amount).as_tuple().exponent == -4
    assert usd_gbp.convert("1234.5678") == expected
    with pytest.raises(TypeError):
        usd_gbp.convert(1234.5678)  # floats are refused, never approximated


def test_rate_book_answers_like_the_single_lookup(winter: str) -> None:
    pairs = [("USD", "GBP"), ("GBP", "USD"), ("EUR", "CHF"), ("JPY", "EUR"), ("SEK", "NOK")]
    days = [date(2023, 12, 25), date(2024, 1, 6), date(2024, 1, 15), date(2024, 1, 16)]
    with get_engine(winter).connect() as connection:
        everything = RateBook.load(connection, date(2023, 12, 24), date(2024, 1, 16))
        some = RateBook.load(
            connection,
            date(2023, 12, 24),
            date(2024, 1, 16),
            {"usd", "gbp", "chf", "jpy", "sek", "nok"},
        )
        for source, target in pairs:
            for day in days:
                single = found(rate(connection, source, target, day))
                assert everything.rate(source, target, day) == single
                assert some.rate(source, target, day) == single


def test_rate_book_for_euro_only_needs_no_rates(winter: str) -> None:
    day = date(2024, 1, 15)
    with get_engine(winter).connect() as connection:
        book = RateBook.load(connection, day, day, {"EUR"})
    assert found(book.rate("EUR", "EUR", day)).rate == 1


# --- Easter 2024 ----------------------------------------------------------------------


def test_easter_holidays_use_previous_business_day(warehouse_url: str) -> None:
    load(warehouse_url, "2024-03-25", "2024-04-05")
    thursday = date(2024, 3, 28)
    for day in (date(2024, 3, 29), date(2024, 3, 30), date(2024, 3, 31), date(2024, 4, 1)):
        result = found(lookup(warehouse_url, "EUR", "CHF", day))
        assert result.rate_date == thursday, day
        assert result.rate == SAMPLE[thursday]["CHF"]
    tuesday = found(lookup(warehouse_url, "EUR", "CHF", date(2024, 4, 2)))
    assert tuesday.rate_date == date(2024, 4, 2)
    assert tuesday.rate == SAMPLE[date(2024, 4, 2)]["CHF"]


# --- identity -------------------------------------------------------------------------


@pytest.mark.parametrize("code", ["EUR", "USD", "HRK"])
def test_identity_for_equal_codes_needs_no_rates(warehouse_url: str, code: str) -> None:
    """Equal codes of currencies the ECB publishes (or did) are 1 on any day, without rates."""
    day = date(2024, 1, 13)
    result = found(lookup(warehouse_url, code, code.lower(), day))
    assert result.rate == 1
    assert result.rate.as_tuple().exponent == -12
    assert result.rate_date == day
    assert result.convert(Decimal("12.34565")) == Decimal("12.3456")


# --- currencies that start, stop, pause, or join the euro --------------------------------


def test_try_before_its_first_ecb_day(warehouse_url: str) -> None:
    load(warehouse_url, "2004-12-27", "2005-01-07")
    for day in (date(2004, 12, 31), date(2005, 1, 2)):
        reason = missing(lookup(warehouse_url, "EUR", "TRY", day)).reason
        assert "TRY" in reason and "2005-01-03" in reason and "first" in reason
        assert "materialize" not in reason
        # Either leg: the reason names the missing currency.
        assert "2005-01-03" in missing(lookup(warehouse_url, "TRY", "USD", day)).reason
    first = found(lookup(warehouse_url, "EUR", "TRY", date(2005, 1, 3)))
    assert first.rate == SAMPLE[date(2005, 1, 3)]["TRY"] == Decimal("1.815")


def test_trl_after_the_ecb_stopped(warehouse_url: str) -> None:
    load(warehouse_url, "2004-12-27", "2005-01-20")
    last = date(2004, 12, 31)
    within = found(lookup(warehouse_url, "EUR", "TRL", last + timedelta(days=14)))
    assert within.rate == SAMPLE[last]["TRL"] and within.rate_date == last
    reason = missing(lookup(warehouse_url, "EUR", "TRL", last + timedelta(days=15))).reason
    assert "stopped publishing TRL after 2004-12-31" in reason


def test_rub_within_fourteen_days_of_its_last_rate_then_stopped(warehouse_url: str) -> None:
    load(warehouse_url, "2022-02-15", "2022-03-20")
    last = date(2022, 3, 1)
    for day in (date(2022, 3, 2), date(2022, 3, 4), last + timedelta(days=14)):
        result = found(lookup(warehouse_url, "EUR", "RUB", day))
        assert result.rate == SAMPLE[last]["RUB"] == Decimal("117.201")
        assert result.rate_date == last
    # A cross takes the older leg's day as its rate_date.
    cross = found(lookup(warehouse_url, "USD", "RUB", date(2022, 3, 4)))
    assert cross.rate_date == last
    assert cross.rate == round12(
        Fraction(SAMPLE[last]["RUB"]) / Fraction(SAMPLE[date(2022, 3, 4)]["USD"])
    )
    for source, target in (("EUR", "RUB"), ("RUB", "USD")):
        reason = missing(lookup(warehouse_url, source, target, last + timedelta(days=15))).reason
        assert "the ECB stopped publishing RUB after 2022-03-01" in reason


def test_isk_gap_from_december_2008(warehouse_url: str) -> None:
    load(warehouse_url, "2008-11-25", "2008-12-31")
    last = date(2008, 12, 9)
    within = found(lookup(warehouse_url, "EUR", "ISK", last + timedelta(days=14)))
    assert within.rate == SAMPLE[last]["ISK"] == Decimal("290")
    assert within.rate_date == last
    for day in (last + timedelta(days=15), date(2008, 12, 31)):
        reason = missing(lookup(warehouse_url, "ISK", "USD", day)).reason
        assert "ISK" in reason and "14 days" in reason
        assert "published none for ISK" in reason
        # The days are loaded: the gap is the ECB's, there is nothing to materialize.
        assert "materialize" not in reason


def test_isk_returns_in_february_2018(warehouse_url: str) -> None:
    load(warehouse_url, "2018-01-15", "2018-02-09")
    reason = missing(lookup(warehouse_url, "EUR", "ISK", date(2018, 1, 31))).reason
    assert "published none for ISK" in reason and "materialize" not in reason
    back = found(lookup(warehouse_url, "EUR", "ISK", date(2018, 2, 1)))
    assert back.rate == SAMPLE[date(2018, 2, 1)]["ISK"] == Decimal("125.01")
    assert found(lookup(warehouse_url, "ISK", "EUR", date(2018, 2, 4))).rate_date == date(
        2018, 2, 2
    )


def test_hrk_uses_published_rates_then_the_irrevocable_rate(warehouse_url: str) -> None:
    load(warehouse_url, "2022-12-26", "2023-01-06")
    before = found(lookup(warehouse_url, "EUR", "HRK", date(2022, 12, 31)))
    assert before.rate == SAMPLE[date(2022, 12, 30)]["HRK"] == Decimal("7.5365")
    assert before.rate_date == date(2022, 12, 30)
    for day in (date(2023, 1, 1), date(2023, 1, 2), date(2023, 1, 6)):
        assert "HRK" not in SAMPLE.get(day, {})
        assert found(lookup(warehouse_url, "EUR", "HRK", day)).rate == Decimal("7.53450")
        assert found(lookup(warehouse_url, "HRK", "EUR", day)).rate == round12(
            1 / Fraction("7.53450")
        )
    cross = found(lookup(warehouse_url, "HRK", "USD", date(2023, 1, 2)))
    assert cross.rate == round12(Fraction(SAMPLE[date(2023, 1, 2)]["USD"]) / Fraction("7.53450"))
    assert cross.rate_date == date(2023, 1, 2)


def test_bgn_uses_published_rates_then_the_irrevocable_rate(warehouse_url: str) -> None:
    load(warehouse_url, "2025-12-22", "2026-01-09")
    before = found(lookup(warehouse_url, "EUR", "BGN", date(2025, 12, 31)))
    assert before.rate == SAMPLE[date(2025, 12, 31)]["BGN"] == Decimal("1.9558")
    for day in (date(2026, 1, 1), date(2026, 1, 2), date(2026, 1, 9)):
        assert "BGN" not in SAMPLE.get(day, {})
        assert found(lookup(warehouse_url, "EUR", "BGN", day)).rate == Decimal("1.95583")
    cross = found(lookup(warehouse_url, "USD", "BGN", date(2026, 1, 3)))  # a Saturday
    assert cross.rate == round12(Fraction("1.95583") / Fraction(SAMPLE[date(2026, 1, 2)]["USD"]))
    assert cross.rate_date == date(2026, 1, 2)


def test_euro_joiners_need_no_rows_after_the_changeover(warehouse_url: str) -> None:
    day = date(2026, 1, 5)
    assert found(lookup(warehouse_url, "EUR", "BGN", day)).rate == Decimal("1.95583")
    assert found(lookup(warehouse_url, "HRK", "EUR", day)).rate == round12(1 / Fraction("7.5345"))
    hrk_bgn = found(lookup(warehouse_url, "HRK", "BGN", day))
    assert hrk_bgn.rate == round12(Fraction("1.95583") / Fraction("7.53450"))
    assert hrk_bgn.rate_date == day
    assert found(lookup(warehouse_url, "SIT", "EUR", date(2024, 1, 15))).rate == round12(
        1 / Fraction("239.640")
    )
    # Before its changeover a joiner needs ECB rows like any other currency.
    reason = missing(lookup(warehouse_url, "EUR", "BGN", date(2025, 12, 31))).reason
    assert "BGN" in reason and "materialize exchange_rates" in reason


# --- no rate, and why -----------------------------------------------------------------


@pytest.mark.parametrize(("source", "target"), [("XYZ", "EUR"), ("USD", "XYZ"), ("xyz", "GBP")])
def test_unknown_currency(warehouse_url: str, source: str, target: str) -> None:
    load(warehouse_url, "2024-01-15")
    reason = missing(lookup(warehouse_url, source, target, date(2024, 1, 15))).reason
    assert "unknown currency XYZ" in reason


def test_nothing_materialized_says_rates_are_not_loaded(warehouse_url: str) -> None:
    result = missing(lookup(warehouse_url, "USD", "GBP", date(2024, 1, 15)))
    assert (result.from_currency, result.to_currency, result.day) == (
        "USD",
        "GBP",
        date(2024, 1, 15),
    )
    assert "no USD rates are loaded" in result.reason
    assert "materialize exchange_rates" in result.reason
    assert (
        "no GBP rates are loaded"
        in missing(lookup(warehouse_url, "EUR", "GBP", date(2024, 1, 15))).reason
    )


def test_days_outside_the_loaded_ones_say_what_to_materialize(warehouse_url: str) -> None:
    load(warehouse_url, "2024-01-08", "2024-01-12")
    load(warehouse_url, "2024-03-25", "2024-03-28")
    after = missing(lookup(warehouse_url, "EUR", "USD", date(2024, 4, 15))).reason
    assert "latest USD rate loaded is from 2024-03-28" in after
    assert "materialize exchange_rates" in after
    before = missing(lookup(warehouse_url, "EUR", "USD", date(2023, 12, 20))).reason
    assert "loaded only from 2024-01-08" in before
    # Between two loaded windows: not the ECB's doing, the days are simply not loaded.
    between = missing(lookup(warehouse_url, "EUR", "USD", date(2024, 2, 15))).reason
    assert "published none" not in between
    assert "materialize exchange_rates" in between
    # A day with a loaded rate within 14 days is answered.
    assert found(lookup(warehouse_url, "EUR", "USD", date(2024, 1, 26))).rate_date == date(
        2024, 1, 12
    )
    missing(lookup(warehouse_url, "EUR", "USD", date(2024, 1, 27)))


def test_no_rate_is_falsy_and_a_rate_truthy() -> None:
    day = date(2024, 1, 15)
    assert not NoRate("USD", "GBP", day, "why")
    assert bool(NoRate("USD", "GBP", day, "why")) is False
    assert FxRate("USD", "GBP", day, Decimal("0.5"), day)
    assert bool(FxRate("USD", "EUR", day, Decimal("1"), day)) is True


# --- the book itself, without a database ------------------------------------------------


def _book(per_euro: dict[str, str], day: date) -> RateBook:
    series = {code: ([day], [Decimal(value)]) for code, value in per_euro.items()}
    return RateBook(series, {code: (day, day) for code in per_euro})


@pytest.mark.parametrize(
    ("usd", "gbp", "expected"),
    [
        ("2", "0.000000000001", "0.000000000000"),  # 0.5e-12: tie, rounds to even 0
        ("2", "0.000000000003", "0.000000000002"),  # 1.5e-12: tie, rounds to even 2
        ("2", "0.000000000005", "0.000000000002"),  # 2.5e-12: tie, rounds to even 2
        ("3", "1", "0.333333333333"),
        ("3", "2", "0.666666666667"),
    ],
)
def test_cross_rounds_half_even_once(usd: str, gbp: str, expected: str) -> None:
    day = date(2024, 1, 15)
    result = found(_book({"USD": usd, "GBP": gbp}, day).rate("USD", "GBP", day))
    assert result.rate == Decimal(expected)
    assert result.rate.as_tuple().exponent == -12


def test_convert_is_not_rounded_twice() -> None:
    """An amount x rate with more than 28 digits is still rounded once (not by the context)."""
    day = date(2024, 1, 15)
    fx = FxRate("IDR", "XYZ", day, Decimal("0.500000000001"), day)
    amount = Decimal("10000000000000.0001")
    # exactly 5000000000010.00005000000000001: just above the half, so it rounds up
    assert fx.convert(amount) == Decimal("5000000000010.0001")
    assert FxRate("A", "B", day, Decimal("1.000050000000"), day).convert(Decimal(1)) == Decimal(
        "1.0000"
    )
    assert FxRate("A", "B", day, Decimal("1.000150000000"), day).convert(Decimal(1)) == Decimal(
        "1.0002"
    )
