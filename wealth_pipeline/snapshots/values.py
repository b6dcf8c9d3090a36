"""Parsing what a person types or a file holds into snapshot values, with clear refusals.

Each parser raises ValueError with a message fit to show as is (the CLI and the CSV import
report the same words).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal

from wealth_pipeline import clock, money

# Plain decimal notation in ASCII digits only: no thousands separators, exponents,
# underscores, NaN, nor other scripts' digits (Python's \d would read "١٢٣" as 123).
_NUMBER = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)")
_CURRENCY = re.compile(r"[A-Z]{3}")
# The earliest snapshot day: the euro and the ECB's reference rates start in January 1999,
# so no snapshot before it can ever be converted (and one from 1700 would make the marts
# fill three centuries of days). The latest is tomorrow: a person ahead of the server's
# time zone may enter "today" when the server still has yesterday.
EARLIEST_DAY = date(1999, 1, 1)
# Exact on both backends: SQLite stores 10**-4 units in a signed 64-bit integer (~9.2e14).
MAX_ABS_BALANCE = Decimal(10) ** 14


def latest_day(today: date | None = None) -> date:
    """The latest snapshot day accepted: tomorrow."""
    return (today or clock.today()) + timedelta(days=1)


def check_day(day: date, *, today: date | None = None) -> date:
    """`day` if it lies between EARLIEST_DAY and tomorrow; ValueError saying so otherwise."""
    if day < EARLIEST_DAY:
        raise ValueError(
            f"date {day} is before {EARLIEST_DAY}: no exchange rate exists before the euro"
        )
    if day > latest_day(today):
        raise ValueError(f"date {day} is in the future (at most tomorrow, {latest_day(today)})")
    return day


def parse_day(text: str, *, today: date | None = None) -> date:
    """A YYYY-MM-DD day between EARLIEST_DAY and tomorrow (from `today`, default: today)."""
    value = text.strip()
    try:
        if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value):
            raise ValueError
        day = date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"bad date {value!r}: use YYYY-MM-DD") from None
    return check_day(day, today=today)


def parse_balance(text: str) -> Decimal:
    """An exact Decimal with at most AMOUNT_PLACES (4) decimals; more are refused, not rounded.

    Trailing zeros do not count: 1.23450 is 1.2345 and accepted.
    """
    value = text.strip()
    if not value:
        raise ValueError("balance is missing")
    if not _NUMBER.fullmatch(value):
        raise ValueError(
            f"bad number {value!r}: write ASCII digits 0-9 with a point for decimals, e.g. -1234.56"
        )
    number = money.to_decimal(value)
    # Checked before quantize: 25 or more digits exceed the decimal context's precision.
    if abs(number) >= MAX_ABS_BALANCE:
        raise ValueError(f"balance {value} is too large (at most 14 digits before the point)")
    places = money.AMOUNT_PLACES
    if number != number.quantize(Decimal(1).scaleb(-places)):
        decimals = -number.normalize().as_tuple().exponent
        raise ValueError(
            f"balance {value} has {decimals} decimal places; at most {places} are stored "
            "exactly (round it yourself)"
        )
    return money.quantize(number, places)


def parse_currency(text: str, known: Callable[[str], bool]) -> str:
    code = text.strip().upper()
    if not code:
        raise ValueError("currency is missing")
    if not _CURRENCY.fullmatch(code):
        raise ValueError(f"bad currency {text.strip()!r}: use a 3-letter ISO 4217 code")
    if not known(code):
        raise ValueError(f"unknown currency {code}: the ECB publishes no reference rate for it")
    return code
