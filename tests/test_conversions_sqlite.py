"""SQLite's in-database reconversion multiplies scaled integers exactly: the SQL of
`conversions.in_sqlite.multiply` against `money.multiply` (Decimal), ties and signs included."""

from __future__ import annotations

import random
import sqlite3
from decimal import Decimal

from wealth_pipeline import money
from wealth_pipeline.conversions.in_sqlite import SAFE_UNITS, multiply

SQL = f"SELECT {multiply('a', 'r')} FROM (SELECT ? AS a, ? AS r)"


def _sql(amount_units: int, rate_units: int) -> int:
    with sqlite3.connect(":memory:") as connection:
        (value,) = connection.execute(SQL, (amount_units, rate_units)).fetchone()
    assert isinstance(value, int), value  # never a float
    return value


def _exact(amount_units: int, rate_units: int, places: int) -> int:
    amount = Decimal(amount_units).scaleb(-places)
    rate = Decimal(rate_units).scaleb(-money.RATE_PLACES)
    return int(money.multiply(amount, rate, places).scaleb(places))


def test_random_amounts_and_rates_agree_with_decimal() -> None:
    pick = random.Random(19)
    cases = [(0, 1), (1, 10**12), (-1, 10**12), (12345, 5 * 10**11), (-12345, 5 * 10**11)]
    for _ in range(3000):
        amount = pick.choice([pick.randrange(-(10**6), 10**6), pick.randrange(-(10**16), 10**16)])
        rate = pick.choice([pick.randrange(1, 10**13), pick.randrange(1, 2 * 10**16)])
        cases.append((amount, rate))
    with sqlite3.connect(":memory:") as connection:
        for amount, rate in cases:
            if abs(amount) * rate // 10**12 >= 2**63 - 1:
                continue  # no column could hold the result: refused before any SQL
            (value,) = connection.execute(SQL, (amount, rate)).fetchone()
            assert value == _exact(amount, rate, money.AMOUNT_PLACES), (amount, rate)


def test_ties_round_to_even_both_signs() -> None:
    # 0.0001 x 0.5 = 0.00005 -> 0.0000; 0.0003 x 0.5 = 0.00015 -> 0.0002
    half = 5 * 10**11
    assert [_sql(units, half) for units in (1, 3, -1, -3, 5, -5)] == [0, 2, 0, -2, 2, -2]


def test_large_values_stay_exact_up_to_the_guard() -> None:
    amount = SAFE_UNITS - 1
    for rate in (10**12, 10**12 + 1, 2 * 10**12 - 7):
        if amount * rate // 10**12 < 2**63:
            assert _sql(amount, rate) == _exact(amount, rate, money.AMOUNT_PLACES)
    big_rate = 17_000 * 10**12  # an IDR-sized rate
    assert _sql(10**13, big_rate) == _exact(10**13, big_rate, money.AMOUNT_PLACES)
