"""The returns marts' arithmetic that SQL cannot do exactly alone, and its conventions.

The returns compute everything in the marts' SQL (`dbt_like_sql/mart_account_daily.sql`,
`mart_returns_daily.sql`), in the build's INSERT: no second pass over the rows. What SQLite
lacks is supplied here as functions registered on the build's connection
(`register_sqlite_functions`); PostgreSQL does the same in NUMERIC and with its running-product
aggregate (migration 0011).

Conventions (the README's "Returns" section):
- flows at the start of the day: r = market_result / (value_start + external_flow); a day
  without positive capital (value_start + flow <= 0) has no return (0 when nothing moved);
- the index starts at 1.0 (or continues from the kept row of the day before) and is carried
  unchanged over days without a return (not covered): index = index x (1 + r), day by day;
- currency effect (accounts not in the base currency) = value at the start in the account's
  currency x (rate at the end - rate at the start), rounded half-even to 4 places; 0 for
  accounts in the base currency.
Ratios are IEEE doubles: the quotient of the two exact amounts (scaled integers below 2**53,
i.e. below 900 billion) is rounded once to a double (relative error < 1.2e-16 per day); the
index compounds one more rounding per day.
"""

from __future__ import annotations

import sqlite3

from wealth_pipeline import money
from wealth_pipeline.marts.models import CHAIN_PRODUCT_AGGREGATE, CURRENCY_EFFECT_FUNCTION


def effect_units(start_own: int, rate_start: int, rate_end: int) -> int:
    """value (4 places) x rate change (12 places), rounded half-even to 4 places: in integers
    (SQLite stores exactly these scaled integers; their product may not fit in 64 bits)."""
    product = start_own * (rate_end - rate_start)
    quotient, remainder = divmod(product, 10**money.RATE_PLACES)
    twice = 2 * remainder
    if twice > 10**money.RATE_PLACES or (twice == 10**money.RATE_PLACES and quotient % 2):
        quotient += 1
    return quotient


class ChainProduct:
    """The running product of a window, factor by factor in the window's order (SQLite's
    `wealth_chain_product`, as PostgreSQL's aggregate over float8mul)."""

    def __init__(self) -> None:
        self.product = 1.0

    def step(self, factor: float) -> None:
        self.product *= factor

    def inverse(self, factor: float) -> None:
        raise NotImplementedError("a running product only grows from the partition's start")

    def value(self) -> float:
        return self.product

    def finalize(self) -> float:
        return self.product


def register_sqlite_functions(connection: sqlite3.Connection) -> None:
    """Make the returns models' functions known to a SQLite connection."""
    connection.create_function(CURRENCY_EFFECT_FUNCTION, 3, effect_units, deterministic=True)
    connection.create_window_function(CHAIN_PRODUCT_AGGREGATE, 1, ChainProduct)
