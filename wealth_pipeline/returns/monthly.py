"""Monthly series of a user's total, for the projection (Monte Carlo) to calibrate on.

Both read `mart_returns_daily` (built by the marts): money stays `Decimal`, returns are
floats (double precision; a month's return is the product of its days' `1 + r` minus 1).
"""

from __future__ import annotations

import calendar
from collections import defaultdict
from datetime import date
from decimal import Decimal

import pandas as pd
from sqlalchemy import Connection, select

from wealth_pipeline.warehouse.schema import mart_returns_daily


def month_end(day: date) -> date:
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


def _rows(connection: Connection, user_id: int) -> list:
    t = mart_returns_daily
    return connection.execute(
        select(
            t.c.day,
            t.c.external_flow,
            t.c.covered_count,
            t.c.unexplained,
            t.c.unknown_count,
            t.c.daily_return,
        )
        .where(t.c.user_id == user_id)
        .order_by(t.c.day)
    ).all()


def monthly_net_external_flows(connection: Connection, user_id: int) -> pd.Series:
    """Per month (index: the month's last day), the net external flow of the user's total in
    the base currency: deposits minus withdrawals (and other external flows) of the accounts
    with flow data, transfers between the user's own accounts (paired) left out. Months
    without any day with flow data are absent. Values are `Decimal`.
    """
    sums: dict[date, Decimal] = defaultdict(Decimal)
    seen: set[date] = set()
    for day, flow, covered, _unexplained, _unknown, _ret in _rows(connection, user_id):
        if covered:
            key = month_end(day)
            seen.add(key)
            sums[key] += flow
    index = sorted(seen)
    return pd.Series([sums[m] for m in index], index=index, dtype=object, name="net_external_flow")


def monthly_time_weighted_returns(connection: Connection, user_id: int) -> pd.Series:
    """Per fully covered month (index: the month's last day), the nominal time-weighted return
    of the user's total as a float: every day of the month is in the marts, and on every day
    all accounts have flow data and converted values (nothing unexplained)."""
    days: dict[date, list[tuple[date, float | None, bool]]] = defaultdict(list)
    for day, _flow, covered, unexplained, unknown, ret in _rows(connection, user_id):
        complete = bool(covered) and unexplained == 0 and unknown == 0 and ret is not None
        days[month_end(day)].append((day, ret, complete))
    index: list[date] = []
    values: list[float] = []
    for end, rows in sorted(days.items()):
        if len(rows) != end.day or not all(complete for _, _, complete in rows):
            continue
        growth = 1.0
        for _, ret, _ in rows:
            growth *= 1.0 + float(ret)
        index.append(end)
        values.append(growth - 1.0)
    return pd.Series(values, index=index, dtype=float, name="time_weighted_return")
