"""The returns marts' Python step: the currency effect, each day's return and the
chain-linked time-weighted index, for the rows a marts build just wrote.

Run by the marts build right after the SQL of `mart_account_returns_daily` (so the total's SQL
sums the accounts' currency effects) and of `mart_returns_daily`, in its transaction, for the
users in scope from their first rebuilt day; the index continues from the kept row of the day
before.

Conventions (the README's "Returns" section):
- flows at the start of the day: r = market_result / (value_start + external_flow); a day
  without positive capital (value_start + flow <= 0) has no return;
- the index starts at 1.0 and is carried unchanged over days without a return (not covered);
- currency effect (accounts not in the base currency) = value at the start in the account's
  currency x (rate at the end - rate at the start), rounded half-even to 4 places; 0 for
  accounts in the base currency.
Ratios are IEEE doubles: the quotient is exact to 28 digits (Decimal) then rounded to a
double (relative error < 1e-16 per day); the index compounds that.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from decimal import Decimal
from functools import partial

from sqlalchemy import (
    Column,
    Connection,
    Date,
    Integer,
    MetaData,
    Table,
    select,
)

from wealth_pipeline import money
from wealth_pipeline.marts.models import SCOPE_TABLE
from wealth_pipeline.warehouse import dialect
from wealth_pipeline.warehouse.schema import mart_account_returns_daily, mart_returns_daily

_scratch = MetaData()
_scope = Table(
    SCOPE_TABLE,
    _scratch,
    Column("user_id", Integer),
    Column("from_day", Date),
    Column("kept_through", Date),
)


def day_return(market_result: Decimal | None, capital: Decimal | None) -> float | None:
    """market_result / capital as a double; None without a result or positive capital."""
    if market_result is None or capital is None:
        return None
    if capital <= 0:
        return 0.0 if market_result == 0 and capital == 0 else None
    return float(market_result / capital)


def currency_effect(
    value_start_own: Decimal, rate_start: Decimal | None, rate_end: Decimal | None
) -> Decimal:
    """value_start_own x (rate_end - rate_start), to 4 places (0 without both rates)."""
    if rate_start is None or rate_end is None:
        return Decimal(0).quantize(Decimal("0.0001"))
    return money.multiply(value_start_own, rate_end - rate_start, money.AMOUNT_PLACES)


def chain(start: float, returns: Iterable[float | None]) -> list[float]:
    """The index after each day: carried over days without a return."""
    out = []
    index = start
    for r in returns:
        if r is not None:
            index *= 1.0 + r
        out.append(index)
    return out


def _effect_units(start_own: int, rate_start: int | None, rate_end: int | None) -> int:
    """value (4 places) x rate change (12 places), rounded half-even to 4 places: in integers."""
    if rate_start is None or rate_end is None:
        return 0
    product = start_own * (rate_end - rate_start)
    quotient, remainder = divmod(product, 10**money.RATE_PLACES)
    twice = 2 * remainder
    if twice > 10**money.RATE_PLACES or (twice == 10**money.RATE_PLACES and quotient % 2):
        quotient += 1
    return quotient


def _write_back(
    connection: Connection, table: str, keys: tuple[str, ...], columns: tuple[str, ...], rows: list
) -> None:
    """Set `columns` of `table`'s rows (matched on `keys`) from `rows`, through a temporary
    table filled in one driver-level executemany and one UPDATE ... FROM (SQLite 3.33+, and
    PostgreSQL): per-row UPDATEs cost more than computing the values."""
    if not rows:
        return
    scratch = f"{table}_update"
    types = {
        "user_id": "INTEGER",
        "account_id": "INTEGER",
        "day": "DATE",
        "currency_effect": dialect.amount_column(connection, money.AMOUNT_PLACES),
        "daily_return": "DOUBLE PRECISION",
        "twr_index": "DOUBLE PRECISION",
    }
    names = (*keys, *columns)
    connection.exec_driver_sql(
        f"CREATE TEMPORARY TABLE {scratch} ("
        + ", ".join(f"{name} {types[name]}" for name in names)
        + ")"
    )
    dialect.copy_rows(connection, scratch, names, rows)
    dialect.analyze(connection, scratch)  # statistics for the join
    assignments = ", ".join(f"{name} = u.{name}" for name in columns)
    matches = " AND ".join(f"{table}.{key} = u.{key}" for key in keys)
    connection.exec_driver_sql(f"UPDATE {table} SET {assignments} FROM {scratch} u WHERE {matches}")
    connection.exec_driver_sql(f"DROP TABLE {scratch}")


def _ratio(numerator: int, denominator: int) -> float | None:
    if denominator <= 0:
        return 0.0 if numerator == 0 and denominator == 0 else None
    return numerator / denominator  # exact integers, one rounding to a double


def fill_account_returns(connection: Connection) -> int:
    """Currency effect, daily return and index of the account rows just written (raw values:
    scaled integers on SQLite, NUMERIC on PostgreSQL, computed in integers)."""
    units = partial(dialect.stored_units, connection.dialect)
    seeds = {
        (user, account): index
        for user, account, index in connection.exec_driver_sql(
            f"SELECT k.user_id, k.account_id, k.twr_index FROM {SCOPE_TABLE} sc "
            "JOIN mart_account_returns_daily k "
            "ON k.user_id = sc.user_id AND k.day = sc.kept_through"
        )
    }
    rows = connection.exec_driver_sql(
        "SELECT r.user_id, r.account_id, r.day, r.covered, r.currency = r.base_currency, "
        "r.value_start, r.value_start_own, r.rate_start, r.rate_end, r.external_flow, "
        f"r.market_result FROM {SCOPE_TABLE} sc JOIN mart_account_returns_daily r "
        "ON r.user_id = sc.user_id AND r.day >= sc.from_day "
        "ORDER BY r.user_id, r.account_id, r.day"
    ).all()
    amount, rate = money.AMOUNT_PLACES, money.RATE_PLACES
    updates = []
    key = None
    index = 1.0
    for user, account, day, covered, same, start, start_own, r0, r1, flow, result in rows:
        if (user, account) != key:
            key = (user, account)
            index = seeds.get(key) or 1.0
        effect = r = None
        if covered:
            effect = (
                0
                if same
                else _effect_units(
                    units(start_own, amount) or 0,
                    units(r0, rate),
                    units(r1, rate),
                )
            )
            r = _ratio(
                units(result, amount) or 0,
                (units(start, amount) or 0) + (units(flow, amount) or 0),
            )
            if r is not None:
                index *= 1.0 + r
            if effect is not None:
                effect = dialect.stored_value(connection.dialect, effect, amount)
        updates.append((user, day, account, effect, r, index))
    _write_back(
        connection,
        "mart_account_returns_daily",
        ("user_id", "day", "account_id"),
        ("currency_effect", "daily_return", "twr_index"),
        updates,
    )
    return len(updates)


def fill_total_returns(connection: Connection) -> int:
    units = partial(dialect.stored_units, connection.dialect)
    seeds = dict(
        connection.exec_driver_sql(
            f"SELECT k.user_id, k.twr_index FROM {SCOPE_TABLE} sc "
            "JOIN mart_returns_daily k ON k.user_id = sc.user_id AND k.day = sc.kept_through"
        ).all()
    )
    rows = connection.exec_driver_sql(
        "SELECT r.user_id, r.day, r.covered_count, r.covered_value_start, r.external_flow, "
        f"r.internal_transfers, r.market_result FROM {SCOPE_TABLE} sc "
        "JOIN mart_returns_daily r ON r.user_id = sc.user_id AND r.day >= sc.from_day "
        "ORDER BY r.user_id, r.day"
    ).all()
    amount = money.AMOUNT_PLACES
    updates = []
    user = None
    index = 1.0
    for row_user, day, covered, start, flow, transfers, result in rows:
        if row_user != user:
            user = row_user
            index = seeds.get(user) or 1.0
        r = None
        if covered:
            capital = sum(units(v, amount) or 0 for v in (start, flow, transfers))
            r = _ratio(units(result, amount) or 0, capital)
            if r is not None:
                index *= 1.0 + r
        updates.append((row_user, day, r, index))
    _write_back(
        connection,
        "mart_returns_daily",
        ("user_id", "day"),
        ("daily_return", "twr_index"),
        updates,
    )
    return len(updates)


POST_STEPS = {
    mart_account_returns_daily.name: fill_account_returns,
    mart_returns_daily.name: fill_total_returns,
}


def first_day(connection: Connection, user_id: int) -> date | None:
    return connection.execute(
        select(mart_returns_daily.c.day)
        .where(mart_returns_daily.c.user_id == user_id)
        .order_by(mart_returns_daily.c.day)
        .limit(1)
    ).scalar()
