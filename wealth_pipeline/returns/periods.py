"""Figures for a period (week, month, year to date, 1/3/5 years, since start), per account or
for the user's total, from the returns marts.

Money (Decimal, exact, base currency): value at the start and end, change, contributions (net
external flow), transfers between own accounts still in transit, market result (change -
contributions; it includes income, costs and the currency effect), the currency effect,
markets (market result - currency effect), income, costs, and the change not explained
(accounts or days without flow data).

Ratios (floats, double precision):
- time-weighted return: the product of the covered days' (1 + r) - 1 (the marts' daily
  returns, flows at the start of the day); annualised, (1 + TWR)^(365 / days) - 1, when the
  period is longer than 365 days;
- money-weighted return: the XIRR (pyxirr, Actual/365 fixed) of the investor's flows: the
  covered value at the start of the first day paid in, each day's external flows paid in
  (and values entering or leaving coverage), the covered value at the end of the last day paid
  out; an annual rate, turned into the period's rate, (1 + XIRR)^(days / 365) - 1, for periods
  of up to 365 days so it reads beside the TWR. None when it has no solution.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pyxirr
from dateutil.relativedelta import relativedelta
from sqlalchemy import Connection, func, select

from wealth_pipeline.warehouse.schema import (
    financial_accounts,
    mart_account_daily,
    mart_returns_daily,
)

PERIODS = ("week", "month", "ytd", "1y", "3y", "5y", "max")
ZERO = Decimal("0.0000")


class PeriodError(ValueError):
    """An unknown period or account; the message says which."""


def period_start(period: str, end: date, first: date) -> date:
    """The period's first day (never before `first`, the series' first day)."""
    starts = {
        "week": lambda: end - timedelta(days=6),
        "month": lambda: end - relativedelta(months=1) + timedelta(days=1),
        "ytd": lambda: date(end.year, 1, 1),
        "1y": lambda: end - relativedelta(years=1) + timedelta(days=1),
        "3y": lambda: end - relativedelta(years=3) + timedelta(days=1),
        "5y": lambda: end - relativedelta(years=5) + timedelta(days=1),
        "max": lambda: first,
    }
    if period not in starts:
        raise PeriodError(f"unknown period {period!r}: one of {', '.join(PERIODS)}")
    return max(starts[period](), first)


@dataclass
class PeriodFigures:
    period: str
    start: date
    end: date
    base_currency: str
    account_id: int | None = None
    value_start: Decimal = ZERO
    value_end: Decimal = ZERO
    change: Decimal = ZERO
    contributions: Decimal = ZERO
    internal_transfers: Decimal = ZERO
    market_result: Decimal = ZERO
    currency_effect: Decimal = ZERO
    markets: Decimal = ZERO
    income: Decimal = ZERO
    costs: Decimal = ZERO
    unexplained: Decimal = ZERO
    covered_days: int = 0
    days: int = 0
    time_weighted_return: float | None = None
    money_weighted_return: float | None = None
    annualised: bool = False
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def time_weighted(returns: list[float | None], days: int) -> tuple[float | None, bool]:
    """Chain-linked return of the days with a return; annualised beyond 365 days."""
    known = [r for r in returns if r is not None]
    if not known:
        return None, False
    growth = 1.0
    for r in known:
        growth *= 1.0 + r
    if days > 365:
        return growth ** (365.0 / days) - 1.0, True
    return growth - 1.0, False


def money_weighted(flows: list[tuple[date, Decimal]], days: int) -> float | None:
    """XIRR of the investor's flows (negative = paid in), as the period's rate up to 365 days."""
    by_day: dict[date, Decimal] = {}
    for day, amount in flows:
        by_day[day] = by_day.get(day, Decimal(0)) + amount
    dates = sorted(d for d, a in by_day.items() if a != 0)
    amounts = [float(by_day[d]) for d in dates]
    if not any(a > 0 for a in amounts) or not any(a < 0 for a in amounts):
        return None
    try:
        rate = pyxirr.xirr(dates, amounts)
    except (pyxirr.InvalidPaymentsError, ValueError, OverflowError):
        return None
    if rate is None or rate != rate:  # no solution, NaN
        return None
    if days <= 365:
        return (1.0 + rate) ** (days / 365.0) - 1.0
    return rate


def _rows(
    connection: Connection, user_id: int, account_id: int | None, start: date, end: date
) -> list[dict[str, Any]]:
    if account_id is None:
        t = mart_returns_daily
        query = select(
            t.c.day,
            t.c.base_currency,
            t.c.value_start,
            t.c.value_end,
            t.c.covered_value_start,
            t.c.covered_value_end,
            t.c.external_flow,
            t.c.internal_transfers,
            t.c.income,
            t.c.costs,
            t.c.market_result,
            t.c.currency_effect,
            t.c.unexplained,
            t.c.daily_return,
            (t.c.covered_count > 0).label("covered"),
        ).where(t.c.user_id == user_id)
    else:
        t = mart_account_daily
        query = select(
            t.c.day,
            t.c.base_currency,
            t.c.value_start,
            t.c.balance_base_currency.label("value_end"),
            t.c.external_flow,
            t.c.income,
            t.c.costs,
            t.c.market_result,
            t.c.currency_effect,
            t.c.unexplained,
            t.c.daily_return,
            t.c.covered,
        ).where(t.c.user_id == user_id, t.c.account_id == account_id)
    query = query.where(t.c.day >= start, t.c.day <= end).order_by(t.c.day)
    rows = []
    for row in connection.execute(query).mappings():
        row = dict(row)
        if account_id is not None:
            covered = bool(row["covered"])
            row["covered_value_start"] = row["value_start"] if covered else ZERO
            row["covered_value_end"] = row["value_end"] if covered else ZERO
            row["internal_transfers"] = ZERO
        rows.append(row)
    return rows


def series_bounds(
    connection: Connection, user_id: int, account_id: int | None = None
) -> tuple[date, date] | None:
    """The first day of the series and the last day with data: the latest snapshot (the
    marts carry values forward to today; the days after the last snapshot hold no news)."""
    t = mart_returns_daily if account_id is None else mart_account_daily
    query = select(func.min(t.c.day)).where(t.c.user_id == user_id)
    ad = mart_account_daily
    last_query = select(func.max(ad.c.snapshot_date)).where(ad.c.user_id == user_id)
    if account_id is not None:
        query = query.where(t.c.account_id == account_id)
        last_query = last_query.where(ad.c.account_id == account_id)
    first = connection.execute(query).scalar()
    last = connection.execute(last_query).scalar()
    return None if first is None or last is None else (first, max(first, last))


def performance(
    connection: Connection,
    user_id: int,
    period: str = "ytd",
    *,
    account_id: int | None = None,
    as_of: date | None = None,
) -> PeriodFigures | None:
    """The period's figures for the account (or the total), None without any returns rows."""
    if period not in PERIODS:
        raise PeriodError(f"unknown period {period!r}: one of {', '.join(PERIODS)}")
    bounds = series_bounds(connection, user_id, account_id)
    if bounds is None:
        return None
    first, last = bounds
    end = min(as_of, last) if as_of else last
    if end < first:
        return None
    start = period_start(period, end, first)
    rows = _rows(connection, user_id, account_id, start, end)
    if period == "max" and len(rows) > 1 and not rows[0]["covered"]:
        # Since the start: from the opening values (the first day's change is the opening
        # balance, not a result), unless flows explain that day.
        start, rows = rows[1]["day"], rows[1:]
    return figures(rows, period=period, start=start, end=end, account_id=account_id)


def figures(
    rows: list[dict[str, Any]], *, period: str, start: date, end: date, account_id: int | None
) -> PeriodFigures:
    """Pure: the period's figures from its daily rows (oldest first)."""
    base = rows[0]["base_currency"] if rows else "EUR"
    result = PeriodFigures(period, start, end, base, account_id)
    if not rows:
        return result
    days = (end - start).days + 1
    result.days = days
    result.value_start = rows[0]["value_start"] if rows[0]["value_start"] is not None else ZERO
    result.value_end = rows[-1]["value_end"] if rows[-1]["value_end"] is not None else ZERO
    result.change = result.value_end - result.value_start
    flows: list[tuple[date, Decimal]] = []
    previous_end = ZERO
    for row in rows:
        covered = bool(row["covered"])
        if covered:
            result.covered_days += 1
            result.contributions += row["external_flow"] or 0
            result.internal_transfers += row["internal_transfers"] or 0
            result.market_result += row["market_result"] or 0
            result.currency_effect += row["currency_effect"] or 0
            result.income += row["income"] or 0
            result.costs += row["costs"] or 0
        result.unexplained += row["unexplained"] or 0
        start_value = row["covered_value_start"] if covered else ZERO
        paid_in = (start_value - previous_end) + (
            (row["external_flow"] or 0) + (row["internal_transfers"] or 0) if covered else 0
        )
        flows.append((row["day"], -paid_in))
        previous_end = row["covered_value_end"] if covered else ZERO
    flows.append((end + timedelta(days=1), previous_end))
    result.markets = result.market_result - result.currency_effect
    result.time_weighted_return, result.annualised = time_weighted(
        [row["daily_return"] for row in rows if row["covered"]], days
    )
    result.money_weighted_return = money_weighted(flows, days)
    if result.covered_days < len(rows):
        result.notes.append(
            f"{len(rows) - result.covered_days} of {len(rows)} days without flow data "
            "for some account: their change is not explained"
        )
    unaccounted = result.change - (
        result.contributions + result.internal_transfers + result.market_result + result.unexplained
    )
    if unaccounted:
        result.notes.append(f"{unaccounted} of the change is in accounts without a converted value")
    return result


RATIO_PLACES = 8


def ratio_text(value: float | None) -> str | None:
    """A ratio as a decimal string with 8 places (1e-8 = 0.000001 %), None stays None."""
    if value is None:
        return None
    return format(Decimal(repr(value)).quantize(Decimal(1).scaleb(-RATIO_PLACES)), "f")


def figures_body(result: PeriodFigures) -> dict[str, Any]:
    """The figures as JSON-ready values: money as exact strings, ratios as 8-place strings."""
    money_fields = (
        "value_start",
        "value_end",
        "change",
        "contributions",
        "internal_transfers",
        "market_result",
        "currency_effect",
        "markets",
        "income",
        "costs",
        "unexplained",
    )
    body: dict[str, Any] = {
        "period": result.period,
        "start_date": result.start.isoformat(),
        "end_date": result.end.isoformat(),
        "base_currency": result.base_currency,
        "account_id": result.account_id,
        "days": result.days,
        "covered_days": result.covered_days,
        **{name: str(getattr(result, name)) for name in money_fields},
        "time_weighted_return": ratio_text(result.time_weighted_return),
        "money_weighted_return": ratio_text(result.money_weighted_return),
        "annualised": result.annualised,
        "notes": list(result.notes),
    }
    return body


def account_ids_with_returns(connection: Connection, user_id: int) -> list[int]:
    t = mart_account_daily
    return list(
        connection.execute(
            select(t.c.account_id).where(t.c.user_id == user_id).group_by(t.c.account_id)
        ).scalars()
    )


def year_split(
    connection: Connection, user_id: int, *, as_of: date | None = None, period: str = "ytd"
) -> list[tuple[str, PeriodFigures]]:
    """The period's (default: this year's) figures of the total ("Total") and of each account
    with returns rows (by value, largest first): what the weekly report and `wealth summary`
    show as "where the change came from"."""
    total = performance(connection, user_id, period, as_of=as_of)
    if total is None:
        return []
    names = dict(
        connection.execute(
            select(financial_accounts.c.id, financial_accounts.c.name).where(
                financial_accounts.c.user_id == user_id
            )
        ).all()
    )
    accounts = []
    for account_id in account_ids_with_returns(connection, user_id):
        figures = performance(connection, user_id, period, account_id=account_id, as_of=as_of)
        if figures is not None:
            accounts.append((names.get(account_id, str(account_id)), figures))
    accounts.sort(key=lambda item: (-item[1].value_end, item[0]))
    return [("Total", total), *accounts]
