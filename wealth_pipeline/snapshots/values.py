"""Parsing what a person types or a file holds into snapshot values, with clear refusals.

Each parser raises ValueError with a message fit to show as is (the CLI and the CSV import
report the same words).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from decimal import Decimal

from wealth_pipeline import money

# Plain decimal notation only: no thousands separators, exponents, underscores or NaN.
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")
# Exact on both backends: SQLite stores 10**-4 units in a signed 64-bit integer (~9.2e14).
MAX_ABS_BALANCE = Decimal(10) ** 14


def parse_day(text: str, *, today: date | None = None) -> date:
    value = text.strip()
    try:
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            raise ValueError
        day = date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"bad date {value!r}: use YYYY-MM-DD") from None
    if today is not None and day > today:
        raise ValueError(f"date {day} is in the future")
    return day


def parse_balance(text: str) -> Decimal:
    """An exact Decimal with at most AMOUNT_PLACES (4) decimals; more are refused, not rounded.

    Trailing zeros do not count: 1.23450 is 1.2345 and accepted.
    """
    value = text.strip()
    if not value:
        raise ValueError("balance is missing")
    if not _NUMBER.match(value):
        raise ValueError(
            f"bad number {value!r}: write digits with a point for decimals, e.g. -1234.56"
        )
    number = money.to_decimal(value)
    places = money.AMOUNT_PLACES
    if number != number.quantize(Decimal(1).scaleb(-places)):
        decimals = -number.normalize().as_tuple().exponent  # type: ignore[operator]
        raise ValueError(
            f"balance {value} has {decimals} decimal places; at most {places} are stored "
            "exactly (round it yourself)"
        )
    if abs(number) >= MAX_ABS_BALANCE:
        raise ValueError(f"balance {value} is too large (at most 14 digits before the point)")
    return money.quantize(number, places)


def parse_currency(text: str, known: Callable[[str], bool]) -> str:
    code = text.strip().upper()
    if not code:
        raise ValueError("currency is missing")
    if not _CURRENCY.match(code):
        raise ValueError(f"bad currency {text.strip()!r}: use a 3-letter ISO 4217 code")
    if not known(code):
        raise ValueError(f"unknown currency {code}: the ECB publishes no reference rate for it")
    return code
