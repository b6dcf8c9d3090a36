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

from sqlalchemy import (
    Column,
    Connection,
    Date,
    Integer,
    MetaData,
    Table,
    and_,
    bindparam,
    select,
    update,
)

from wealth_pipeline import money
from wealth_pipeline.marts.models import SCOPE_TABLE
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


def fill_account_returns(connection: Connection) -> int:
    t = mart_account_returns_daily
    kept = t.alias("kept")
    seeds = {
        (user, account): index
        for user, account, index in connection.execute(
            select(kept.c.user_id, kept.c.account_id, kept.c.twr_index)
            .select_from(_scope)
            .join(
                kept,
                and_(kept.c.user_id == _scope.c.user_id, kept.c.day == _scope.c.kept_through),
            )
        )
    }
    rows = connection.execute(
        select(
            t.c.user_id,
            t.c.account_id,
            t.c.day,
            t.c.covered,
            t.c.currency,
            t.c.base_currency,
            t.c.value_start,
            t.c.value_start_own,
            t.c.rate_start,
            t.c.rate_end,
            t.c.external_flow,
            t.c.market_result,
        )
        .select_from(_scope)
        .join(t, and_(t.c.user_id == _scope.c.user_id, t.c.day >= _scope.c.from_day))
        .order_by(t.c.user_id, t.c.account_id, t.c.day)
    ).all()
    updates = []
    key = None
    index = 1.0
    zero = Decimal(0).quantize(Decimal("0.0001"))
    for row in rows:
        if (row.user_id, row.account_id) != key:
            key = (row.user_id, row.account_id)
            index = seeds.get(key) or 1.0
        effect = None
        r = None
        if row.covered:
            effect = (
                zero
                if row.currency == row.base_currency
                else currency_effect(row.value_start_own, row.rate_start, row.rate_end)
            )
            r = day_return(row.market_result, row.value_start + row.external_flow)
        if r is not None:
            index *= 1.0 + r
        updates.append(
            {
                "b_user": row.user_id,
                "b_account": row.account_id,
                "b_day": row.day,
                "b_effect": effect,
                "b_return": r,
                "b_index": index,
            }
        )
    if updates:
        connection.execute(
            update(t)
            .where(
                t.c.user_id == bindparam("b_user"),
                t.c.day == bindparam("b_day", type_=Date()),
                t.c.account_id == bindparam("b_account"),
            )
            .values(
                currency_effect=bindparam("b_effect", type_=t.c.currency_effect.type),
                daily_return=bindparam("b_return"),
                twr_index=bindparam("b_index"),
            ),
            updates,
        )
    return len(updates)


def fill_total_returns(connection: Connection) -> int:
    t = mart_returns_daily
    kept = t.alias("kept")
    seeds = dict(
        connection.execute(
            select(kept.c.user_id, kept.c.twr_index)
            .select_from(_scope)
            .join(
                kept,
                and_(kept.c.user_id == _scope.c.user_id, kept.c.day == _scope.c.kept_through),
            )
        ).all()
    )
    rows = connection.execute(
        select(
            t.c.user_id,
            t.c.day,
            t.c.covered_count,
            t.c.covered_value_start,
            t.c.external_flow,
            t.c.internal_transfers,
            t.c.market_result,
        )
        .select_from(_scope)
        .join(t, and_(t.c.user_id == _scope.c.user_id, t.c.day >= _scope.c.from_day))
        .order_by(t.c.user_id, t.c.day)
    ).all()
    updates = []
    user = None
    index = 1.0
    for row in rows:
        if row.user_id != user:
            user = row.user_id
            index = seeds.get(user) or 1.0
        r = None
        if row.covered_count:
            capital = row.covered_value_start + row.external_flow + row.internal_transfers
            r = day_return(row.market_result, capital)
        if r is not None:
            index *= 1.0 + r
        updates.append({"b_user": row.user_id, "b_day": row.day, "b_return": r, "b_index": index})
    if updates:
        connection.execute(
            update(t)
            .where(t.c.user_id == bindparam("b_user"), t.c.day == bindparam("b_day", type_=Date()))
            .values(daily_return=bindparam("b_return"), twr_index=bindparam("b_index")),
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
