"""Exact money: one scale per kind of value, rounded once, half-even, where it is produced.

Amounts, rates, quantities and prices never pass through a float. Values read from JSON are
parsed with `parse_float=Decimal`; values stored go through `warehouse.types`, which refuses
anything that is not already at its column's scale.
"""

from __future__ import annotations

import json
from decimal import ROUND_HALF_EVEN, Context, Decimal, Inexact, InvalidOperation
from fractions import Fraction
from typing import Any

AMOUNT_PLACES = 4  # balances, market values, base-currency amounts
RATE_PLACES = 12  # exchange rates, published and crossed
QUANTITY_PLACES = 8  # units held: satoshi precision, up to 92 billion units on SQLite
PRICE_PLACES = 10  # price per unit, enough for sub-cent crypto prices

DEFAULT_BASE_CURRENCY = "EUR"  # a user's base currency until they choose one


# The product of two stored values (28 digits each) fits in 80 digits; Inexact is trapped so
# a wider one raises instead of being rounded twice. Rounding to the scale is the second step.
_EXACT_PRODUCT = Context(prec=80, rounding=ROUND_HALF_EVEN, traps=[Inexact, InvalidOperation])
_ROUNDING = Context(prec=80, rounding=ROUND_HALF_EVEN)
_EXPONENTS = {places: Decimal(1).scaleb(-places) for places in range(29)}


def quantize(value: Decimal | int | Fraction, places: int) -> Decimal:
    """Round `value` half-even to `places` decimals, exactly (a Fraction is rounded once)."""
    if isinstance(value, float):
        raise TypeError("floats are not money; pass a Decimal, an int or a Fraction")
    if isinstance(value, Fraction):
        return _units_to_decimal(
            _round_half_even(value.numerator * 10**places, value.denominator), places
        )
    exponent = Decimal(1).scaleb(-places)
    return Decimal(value).quantize(exponent, rounding=ROUND_HALF_EVEN)


def _round_half_even(numerator: int, denominator: int) -> int:
    """`numerator / denominator` to the nearest integer, ties to even, in integers."""
    if denominator < 0:
        numerator, denominator = -numerator, -denominator
    floor, remainder = divmod(numerator, denominator)
    twice = 2 * remainder  # 0 <= remainder < denominator, also for negative values
    if twice > denominator or (twice == denominator and floor % 2 == 1):
        return floor + 1
    return floor


def _units_to_decimal(units: int, places: int) -> Decimal:
    # scaleb in a wide context: the default one (28 digits) would round a second time.
    return Decimal(units).scaleb(-places, context=_ROUNDING)


def multiply(value: Decimal, factor: Decimal, places: int) -> Decimal:
    """`value * factor` rounded once, half-even, to `places`.

    The same result as `quantize(Fraction(value) * Fraction(factor), places)`, in C: the hot
    path of converting many amounts (no Fraction per row).
    """
    exact = _EXACT_PRODUCT.multiply(value, factor)
    return exact.quantize(_EXPONENTS[places], context=_ROUNDING)


def divide(numerator: Decimal, denominator: Decimal, places: int) -> Decimal:
    """`numerator / denominator` rounded once, half-even, to `places` (no intermediate rounding)."""
    if denominator == 0:
        raise ZeroDivisionError("division by a zero amount or rate")
    top, top_scale = to_decimal(numerator).as_integer_ratio()
    bottom, bottom_scale = to_decimal(denominator).as_integer_ratio()
    # (top / top_scale) / (bottom / bottom_scale) in units of 10**-places, as one integer
    # ratio: a Fraction would reduce it by gcd at every step, for the same result.
    units = _round_half_even(top * bottom_scale * 10**places, top_scale * bottom)
    return _units_to_decimal(units, places)


def amount(value: Decimal | int | str) -> Decimal:
    return quantize(to_decimal(value), AMOUNT_PLACES)


def to_decimal(value: Any) -> Decimal:
    """Parse a number given as str, int or Decimal; floats are refused, not approximated."""
    if isinstance(value, (bool, float)):
        raise TypeError(f"refusing a {type(value).__name__} as a money value: {value!r}")
    if isinstance(value, Decimal):
        result = value
    else:
        try:
            result = Decimal(str(value).strip())
        except InvalidOperation:
            raise ValueError(f"not a number: {value!r}") from None
    if not result.is_finite():
        raise ValueError(f"not a finite number: {value!r}")
    return result


def loads_json(text: str | bytes) -> Any:
    """JSON whose non-integer numbers become Decimal (integers are exact already), never float."""
    return json.loads(text, parse_float=Decimal)


def json_default(value: Any) -> Any:
    """For json.dumps: Decimals travel as strings."""
    if isinstance(value, Decimal):
        return str(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    raise TypeError(f"not JSON serializable: {type(value).__name__}")
