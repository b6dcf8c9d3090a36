"""Numbers as a person reads them in the report: exact to the cent of the user's currency.

Amounts arrive as `Decimal` (4 places from the warehouse) and are rounded once, half-even, to
the currency's minor unit (babel's CLDR data: 2 for EUR, 0 for JPY...) only here, at display.
No float is ever involved: the charts convert their plotted points themselves.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from fractions import Fraction
from functools import lru_cache

from babel.numbers import get_currency_name, get_currency_precision, get_currency_symbol

from wealth_pipeline.money import quantize

PERCENT_PLACES = 1


@lru_cache(maxsize=64)
def currency_places(currency: str) -> int:
    return get_currency_precision(currency)


@lru_cache(maxsize=64)
def currency_symbol(currency: str) -> str:
    """`€`, `$`, `£`, `¥`; a code (`CHF`) where the symbol would be the code itself."""
    symbol = get_currency_symbol(currency, locale="en")
    return symbol if not symbol.isalpha() else currency


def exactness(currency: str) -> str:
    """How exact the shown amounts are: `exact to the cent`, `exact to the yen` (JPY has no
    minor unit), `exact to 3 decimals` (KWD)."""
    places = currency_places(currency)
    if places == 2:
        return "exact to the cent"
    if places == 0:
        unit = get_currency_name(currency, count=1, locale="en").split()[-1]
        return f"exact to the {unit}"
    return f"exact to {places} decimals"


def rounded(value: Decimal, currency: str) -> Decimal:
    """`value` as shown: half-even to the currency's minor unit."""
    return quantize(value, currency_places(currency))


def _grouped(value: Decimal, places: int) -> str:
    """`1234567.891` -> `1,234,567.89` (half-even), without a sign."""
    rounded = quantize(abs(value), places)
    return f"{rounded:,f}"


def number(value: Decimal, currency: str) -> str:
    """`1,234.56`, `-12.00`, `1,235` (JPY): half-even at the currency's minor unit, no symbol
    (the command line's tables, where the code stands beside it)."""
    places = currency_places(currency)
    return ("-" if quantize(value, places) < 0 else "") + _grouped(value, places)


def money(value: Decimal, currency: str) -> str:
    """`€1,234.56`, `-€12.00`, `CHF 1,234.56`, `¥1,235`."""
    places = currency_places(currency)
    sign = "-" if quantize(value, places) < 0 else ""
    symbol = currency_symbol(currency)
    number = _grouped(value, places)
    if symbol == currency:
        return f"{sign}{currency} {number}"
    return f"{sign}{symbol}{number}"


def signed_money(value: Decimal, currency: str) -> str:
    """A change: `+€120.00`, `-€5.10`, `±€0.00` for no change (after rounding)."""
    places = currency_places(currency)
    rounded = quantize(value, places)
    if rounded == 0:
        return "±" + money(Decimal(0), currency)
    return ("+" if rounded > 0 else "") + money(value, currency)


def percent(value: Fraction | Decimal | None, *, signed: bool = False) -> str:
    """A ratio (0.1234) as `12.3 %`, rounded once; signed: `+12.3 %`; None: `n/a`."""
    if value is None:
        return "n/a"
    rounded = quantize(value * 100, PERCENT_PLACES)
    if rounded == 0:
        rounded = abs(rounded)  # never "-0.0 %"
    text = f"{abs(rounded):,f} %"
    if rounded < 0:
        return "-" + text
    if signed:
        return ("+" if rounded > 0 else "±") + text
    return text


def day(value: date) -> str:
    """`Mon 30 Nov 2026`: unambiguous in every country (no 11/30 vs 30/11)."""
    return f"{value:%a} {value.day} {value:%b %Y}"


def short_day(value: date) -> str:
    return f"{value.day} {value:%b %Y}"
