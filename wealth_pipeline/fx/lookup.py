"""The one rate lookup: `rate(from, to, day)` for any two ECB currencies, exact.

Rules (the same everywhere a conversion happens):
- identity for equal currencies;
- each leg is the latest ECB rate on or before `day`, at most 14 days back (as Frankfurter);
- crosses go through EUR as one exact division, rounded once, half-even, to 12 places;
- currencies that joined the euro use their irrevocable conversion rate from the changeover;
- "no rate" is a `NoRate` with its reason, never a made-up 1.0.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction

from sqlalchemy import Connection, and_, func, select

from wealth_pipeline import money
from wealth_pipeline.warehouse.schema import exchange_rates

LOOKBACK = timedelta(days=14)


def _back(day: date) -> date:
    """`day - LOOKBACK`, or date.min where that would fall before year 1."""
    return day - LOOKBACK if day > date.min + LOOKBACK else date.min


# Irrevocable conversion rates (units per euro) from the day each currency joined the euro.
EURO_CHANGEOVERS: dict[str, tuple[date, Decimal]] = {
    "SIT": (date(2007, 1, 1), Decimal("239.640")),
    "CYP": (date(2008, 1, 1), Decimal("0.585274")),
    "MTL": (date(2008, 1, 1), Decimal("0.429300")),
    "SKK": (date(2009, 1, 1), Decimal("30.1260")),
    "EEK": (date(2011, 1, 1), Decimal("15.6466")),
    "LVL": (date(2014, 1, 1), Decimal("0.702804")),
    "LTL": (date(2015, 1, 1), Decimal("3.45280")),
    "HRK": (date(2023, 1, 1), Decimal("7.53450")),
    "BGN": (date(2026, 1, 1), Decimal("1.95583")),
}

# Every currency the ECB has published, with its first day where later than 1999-01-04 and
# its last day where it stopped without joining the euro (from the ECB's own file).
ECB_FIRST_DAY = date(1999, 1, 4)
ECB_LATE_STARTS = {
    "BGN": date(2000, 7, 19),
    "TRY": date(2005, 1, 3),
    **{code: date(2005, 4, 1) for code in ("CNY", "HRK", "IDR", "MYR", "PHP", "RUB", "THB")},
    "RON": date(2005, 7, 1),
    "BRL": date(2008, 1, 2),
    "MXN": date(2008, 1, 2),
    "INR": date(2009, 1, 2),
    "ILS": date(2011, 1, 3),
}
ECB_ENDED = {"TRL": date(2004, 12, 31), "ROL": date(2005, 6, 30), "RUB": date(2022, 3, 1)}
ECB_CURRENCIES = frozenset(
    [
        "USD",
        "JPY",
        "BGN",
        "CYP",
        "CZK",
        "DKK",
        "EEK",
        "GBP",
        "HUF",
        "LTL",
        "LVL",
        "MTL",
        "PLN",
        "ROL",
        "RON",
        "SEK",
        "SIT",
        "SKK",
        "CHF",
        "ISK",
        "NOK",
        "HRK",
        "RUB",
        "TRL",
        "TRY",
        "AUD",
        "BRL",
        "CAD",
        "CNY",
        "HKD",
        "IDR",
        "ILS",
        "INR",
        "KRW",
        "MXN",
        "MYR",
        "NZD",
        "PHP",
        "SGD",
        "THB",
        "ZAR",
    ]
)


@dataclass(frozen=True)
class FxRate:
    """1 `from_currency` = `rate` `to_currency` on `day`, from ECB rates of `rate_dates`."""

    from_currency: str
    to_currency: str
    day: date
    rate: Decimal
    rate_date: date  # the older ECB day of the legs used (== day for identity)

    def convert(self, amount: Decimal) -> Decimal:
        """`amount` in the target currency: rounded once, half-even, to AMOUNT_PLACES."""
        # An exact product: Decimal multiplication would round to the context's 28 digits first.
        exact = Fraction(money.to_decimal(amount)) * Fraction(self.rate)
        return money.quantize(exact, money.AMOUNT_PLACES)


@dataclass(frozen=True)
class NoRate:
    """No rate for this pair and day, and why."""

    from_currency: str
    to_currency: str
    day: date
    reason: str

    def __bool__(self) -> bool:  # `if result:` reads as "a rate was found"
        return False


@dataclass(frozen=True)
class _Leg:
    per_euro: Decimal | None
    rate_date: date | None
    reason: str | None


class RateBook:
    """ECB rates loaded for a window of days, answering lookups from memory.

    Build one per run or per request over the days needed (`load`), then ask `rate()` as
    often as needed; `rate()` at module level is the same lookup for a single question.
    """

    def __init__(
        self,
        series: dict[str, tuple[list[date], list[Decimal]]],
        spans: dict[str, tuple[date, date]],
        loaded_days: Iterable[date] | None = None,
    ) -> None:
        self._series = series
        self._spans = spans
        # The days with any EUR rates loaded in the window (all currencies, not just the wanted).
        if loaded_days is None:
            loaded_days = {day for days, _ in series.values() for day in days}
        self._loaded_days = sorted(set(loaded_days))

    @classmethod
    def load(
        cls,
        connection: Connection,
        start: date,
        end: date,
        currencies: Iterable[str] | None = None,
    ) -> RateBook:
        table = exchange_rates
        wanted = None if currencies is None else sorted({c.upper() for c in currencies} - {"EUR"})
        window = [
            table.c.base_currency == "EUR",
            table.c.rate_date >= _back(start),
            table.c.rate_date <= end,
        ]
        conditions = list(window)
        span_conditions = [table.c.base_currency == "EUR"]
        if wanted is not None:
            conditions.append(table.c.quote_currency.in_(wanted))
            span_conditions.append(table.c.quote_currency.in_(wanted))
        series: dict[str, tuple[list[date], list[Decimal]]] = {}
        if wanted != []:
            query = (
                select(table.c.quote_currency, table.c.rate_date, table.c.rate)
                .where(and_(*conditions))
                .order_by(table.c.quote_currency, table.c.rate_date)
            )
            for code, day, value in connection.execute(query):
                days, values = series.setdefault(code, ([], []))
                days.append(day)
                values.append(value)
        spans: dict[str, tuple[date, date]] = {}
        loaded_days: list[date] = []
        if wanted != []:
            # Days with any currency loaded: a currency absent on them is absent at the ECB.
            days_query = select(table.c.rate_date).where(and_(*window)).group_by(table.c.rate_date)
            loaded_days = list(connection.execute(days_query).scalars())
            span_query = (
                select(
                    table.c.quote_currency,
                    func.min(table.c.rate_date),
                    func.max(table.c.rate_date),
                )
                .where(and_(*span_conditions))
                .group_by(table.c.quote_currency)
            )
            spans = {code: (first, last) for code, first, last in connection.execute(span_query)}
        return cls(series, spans, loaded_days)

    def rate(self, from_currency: str, to_currency: str, day: date) -> FxRate | NoRate:
        source, target = from_currency.upper(), to_currency.upper()
        # Unknown codes first: XAU into XAU is no rate, not a stand-in 1.0.
        for code in (source, target):
            if not self.knows(code):
                return NoRate(
                    source,
                    target,
                    day,
                    f"unknown currency {code}: the ECB publishes no reference rate for it",
                )
        if source == target:
            return FxRate(source, target, day, money.quantize(Decimal(1), money.RATE_PLACES), day)
        legs = {code: self._leg(code, day) for code in {source, target}}
        for code in (source, target):
            if legs[code].reason is not None:
                return NoRate(source, target, day, legs[code].reason)
        from_leg, to_leg = legs[source], legs[target]
        assert from_leg.per_euro is not None and to_leg.per_euro is not None
        value = money.divide(to_leg.per_euro, from_leg.per_euro, money.RATE_PLACES)
        rate_date = min(from_leg.rate_date, to_leg.rate_date)
        return FxRate(source, target, day, value, rate_date)

    def knows(self, code: str) -> bool:
        """Whether `code` is a currency the ECB publishes (or did, or EUR)."""
        return code == "EUR" or code in ECB_CURRENCIES or code in self._spans

    def _leg(self, code: str, day: date) -> _Leg:
        """Units of `code` per euro on `day`."""
        if code == "EUR":
            return _Leg(Decimal(1), day, None)
        changeover = EURO_CHANGEOVERS.get(code)
        if changeover and day >= changeover[0]:
            return _Leg(changeover[1], day, None)
        days, values = self._series.get(code, ([], []))
        index = bisect.bisect_right(days, day) - 1
        if index >= 0 and days[index] >= _back(day):
            return _Leg(values[index], days[index], None)
        return _Leg(None, None, self._why_missing(code, day))

    def _why_missing(self, code: str, day: date) -> str:
        first = ECB_LATE_STARTS.get(code, ECB_FIRST_DAY)
        ended = ECB_ENDED.get(code)
        span = self._spans.get(code)
        if day < first:
            return f"no ECB rate for {code} before {first.isoformat()}, its first published day"
        window = f"no ECB rate for {code} within {LOOKBACK.days} days before {day.isoformat()}"
        if ended and day > ended:
            return f"{window}: the ECB stopped publishing {code} after {ended.isoformat()}"
        if self._loaded_between(_back(day), day):
            # The ECB published rates in the window, none of them for `code`: a gap of its own.
            return f"{window}: the ECB published none for {code} in that window"
        if span is None:
            return (
                f"{window}: no {code} rates are loaded (materialize exchange_rates for those days)"
            )
        if day > span[1]:
            return (
                f"{window}: the latest {code} rate loaded is from {span[1].isoformat()} "
                "(materialize exchange_rates for the days after it)"
            )
        if day < span[0]:
            return f"{window}: {code} rates are loaded only from {span[0].isoformat()}"
        return f"{window}: no rates are loaded for those days (materialize exchange_rates for them)"

    def _loaded_between(self, first: date, last: date) -> bool:
        index = bisect.bisect_left(self._loaded_days, first)
        return index < len(self._loaded_days) and self._loaded_days[index] <= last


def rate(
    connection: Connection, from_currency: str, to_currency: str, day: date
) -> FxRate | NoRate:
    """The rate for one pair on one day (loads just what it needs)."""
    book = RateBook.load(connection, day, day, {from_currency, to_currency})
    return book.rate(from_currency, to_currency, day)


def default_day(connection: Connection) -> date | None:
    """The day rates are shown for when none is asked: the latest ECB day stored (the CLI's
    `wealth fx rate` and the API's `/api/exchange-rates/` both use it); None before any."""
    return connection.execute(select(func.max(exchange_rates.c.rate_date))).scalar()
