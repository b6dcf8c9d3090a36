"""`/api/wealth/changes/` and `/api/accounts/{id}/history/`: what the dashboard charts.

Differences of money are computed here, exactly, so no client ever subtracts amounts in
floating point. Both read the marts only.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Annotated

from dateutil.relativedelta import relativedelta
from fastapi import APIRouter, HTTPException, Query, Request
from pydantic import BaseModel
from sqlalchemy import and_, func, select

from wealth_pipeline import money
from wealth_pipeline.api.body import day, json_response
from wealth_pipeline.api.principal import Authenticated, reading
from wealth_pipeline.api.routes.accounts import AccountId
from wealth_pipeline.api.schemas import Money, Problem
from wealth_pipeline.marts.coverage import CoverageChange, figures_days, like_for_like
from wealth_pipeline.warehouse.schema import (
    financial_accounts,
    mart_account_daily,
    mart_net_worth_daily,
)

router = APIRouter(prefix="/api", responses={401: {"model": Problem}, 422: {"model": Problem}})
RATIO_PLACES = 2
MAX_DAYS = 36_600


class Change(BaseModel):
    period: str
    since: str | None
    start_value: Money | None
    end_value: Money | None
    change: Money | None
    percentage: str | None
    like_for_like: bool
    note: str | None


class ChangesOut(BaseModel):
    base_currency: str
    as_of: str | None
    changes: list[Change]


class AccountHistoryPoint(BaseModel):
    date: str
    balance: Money
    balance_base_currency: Money | None


class AccountHistoryOut(BaseModel):
    account_id: int
    currency: str
    base_currency: str | None
    start_date: str | None
    end_date: str | None
    history: list[AccountHistoryPoint]


def period_start(period: str, end: date) -> date:
    """The day a period's change is measured from: a week, a month back, or 31 December."""
    if period == "week":
        return end - timedelta(days=7)
    if period == "month":
        return end - relativedelta(months=1)
    return date(end.year - 1, 12, 31)  # year to date


CHANGE_NAMES = {
    "week": "this week's change",
    "month": "this month's change",
    "year_to_date": "the year-to-date change",
}


def change_body(
    period: str, since: date, coverage: CoverageChange | None, net_worth: Decimal | None
) -> dict[str, object]:
    """One period's change, over the accounts counted on both days (`marts.coverage`): a drop
    in coverage is never shown as a loss; `note` says which accounts were left out."""
    if coverage is None or coverage.counted_on_start == 0:
        return {
            "period": period,
            "since": day(since),
            "start_value": None,
            "end_value": None if net_worth is None else str(net_worth),
            "change": None,
            "percentage": None,
            "like_for_like": False,
            "note": f"no account was counted on {since.isoformat()}: nothing to compare with",
        }
    delta = coverage.change
    ratio = None
    if coverage.start_total != 0:
        ratio = str(money.divide(delta * 100, abs(coverage.start_total), RATIO_PLACES))
    return {
        "period": period,
        "since": day(since),
        "start_value": str(coverage.start_total),
        "end_value": str(coverage.end_total),
        "change": str(money.quantize(delta, money.AMOUNT_PLACES)),
        "percentage": ratio,
        "like_for_like": coverage.comparable,
        "note": coverage.sentence(CHANGE_NAMES[period]),
    }


@router.get(
    "/wealth/changes/",
    response_model=ChangesOut,
    tags=["wealth"],
    summary="The change in net worth over the last week, month and year to date",
)
def changes(request: Request, claims: Authenticated) -> object:
    """Each change is measured up to the day the figures are as of (the newest snapshot:
    days the marts only carry forward are not compared) from the period's first day (a week
    back, a month back, 31 December), over the accounts counted on both days, exactly; the
    percentage is of the earlier total, rounded half-even to 2 places. When the accounts
    counted differ (an account added, removed or without a rate), `like_for_like` is false,
    the change leaves those accounts out (a drop in coverage is not a loss) and `note` says
    which; `start_value` and `end_value` are then the totals of the accounts counted on both
    days."""
    table = mart_net_worth_daily
    with reading(request, claims) as (connection, user):
        days = figures_days(connection, user.id)
        result = []
        base = user.base_currency
        as_of = None
        if days is not None:
            as_of = days[1]
            end = connection.execute(
                select(table.c.total_wealth, table.c.base_currency).where(
                    and_(table.c.user_id == user.id, table.c.day == as_of)
                )
            ).one()
            base = end.base_currency
            for period in ("week", "month", "year_to_date"):
                since = period_start(period, as_of)
                coverage = like_for_like(connection, user.id, since, as_of)
                result.append(change_body(period, since, coverage, end.total_wealth))
    return json_response({"base_currency": base, "as_of": day(as_of), "changes": result})


@router.get(
    "/accounts/{account_id}/history/",
    response_model=AccountHistoryOut,
    tags=["accounts"],
    responses={404: {"model": Problem}},
    summary="One account's value per day, in its own and in your base currency",
)
def account_history(
    request: Request,
    account_id: AccountId,
    claims: Authenticated,
    days: Annotated[
        int, Query(ge=1, le=MAX_DAYS, description="how many days back from the last day")
    ] = 365,
) -> object:
    """Each day carries the account's latest snapshot on or before it (as the totals do);
    the base amount is null while that snapshot has no rate."""
    table = mart_account_daily
    with reading(request, claims) as (connection, user):
        account = connection.execute(
            select(financial_accounts.c.currency).where(
                and_(
                    financial_accounts.c.id == account_id,
                    financial_accounts.c.user_id == user.id,
                )
            )
        ).first()
        if account is None:
            raise HTTPException(404, f"no such account: {account_id}")
        scope = and_(table.c.user_id == user.id, table.c.account_id == account_id)
        last = connection.execute(select(func.max(table.c.day)).where(scope)).scalar()
        rows = []
        if last is not None:
            first = last - timedelta(days=min(days - 1, (last - date.min).days))
            rows = connection.execute(
                select(
                    table.c.day,
                    table.c.balance,
                    table.c.base_currency,
                    table.c.balance_base_currency,
                )
                .where(and_(scope, table.c.day >= first))
                .order_by(table.c.day)
            ).all()
    base = next((row.base_currency for row in reversed(rows) if row.base_currency), None)
    return json_response(
        {
            "account_id": account_id,
            "currency": account.currency,
            "base_currency": base or user.base_currency,
            "start_date": day(rows[0].day) if rows else None,
            "end_date": day(rows[-1].day) if rows else None,
            "history": [
                {
                    "date": row.day.isoformat(),
                    "balance": str(row.balance),
                    "balance_base_currency": None
                    if row.balance_base_currency is None
                    else str(row.balance_base_currency),
                }
                for row in rows
            ],
        }
    )
