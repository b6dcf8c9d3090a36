"""`/api/wealth/changes/` and `/api/accounts/{id}/history/`: what the dashboard charts.

Differences of money are computed here, exactly, so no client ever subtracts amounts in
floating point. Both read the marts only.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated

from dateutil.relativedelta import relativedelta
from fastapi import APIRouter, HTTPException, Query, Request
from pydantic import BaseModel
from sqlalchemy import Connection, and_, func, select

from wealth_pipeline import money
from wealth_pipeline.api.body import day, json_response
from wealth_pipeline.api.principal import Authenticated, reading
from wealth_pipeline.api.routes.accounts import AccountId
from wealth_pipeline.api.schemas import Money, Problem
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


def change_body(period: str, since: date, start, end) -> dict[str, object]:
    """One period's change; `start`/`end` are mart rows (total, account and unconverted counts)."""
    if start is None or end is None:
        return {
            "period": period,
            "since": day(since),
            "start_value": None,
            "end_value": None if end is None else str(end.total_wealth),
            "change": None,
            "percentage": None,
            "like_for_like": False,
            "note": f"no history on {since.isoformat()} yet",
        }
    delta = end.total_wealth - start.total_wealth
    counted_then = start.account_count - start.unconverted_count
    counted_now = end.account_count - end.unconverted_count
    like = counted_then == counted_now and start.account_count == end.account_count
    note = None
    if not like:
        note = (
            f"not like for like: {counted_then} account(s) counted on {since.isoformat()}, "
            f"{counted_now} now"
        )
    ratio = None
    if start.total_wealth != 0:
        ratio = str(money.divide(delta * 100, abs(start.total_wealth), RATIO_PLACES))
    return {
        "period": period,
        "since": day(since),
        "start_value": str(start.total_wealth),
        "end_value": str(end.total_wealth),
        "change": str(money.quantize(delta, money.AMOUNT_PLACES)),
        "percentage": ratio,
        "like_for_like": like,
        "note": note,
    }


def _net_worth_on(connection: Connection, user_id: int, on: date):
    table = mart_net_worth_daily
    return connection.execute(
        select(table.c.total_wealth, table.c.account_count, table.c.unconverted_count).where(
            and_(table.c.user_id == user_id, table.c.day == on)
        )
    ).first()


@router.get(
    "/wealth/changes/",
    response_model=ChangesOut,
    tags=["wealth"],
    summary="The change in net worth over the last week, month and year to date",
)
def changes(request: Request, claims: Authenticated) -> object:
    """Each change is the last day's total minus the total on the period's first day
    (a week back, a month back, 31 December), exact; the percentage is of the earlier total,
    rounded half-even to 2 places. When the accounts counted differ between the two days
    (an account added, removed or without a rate), `like_for_like` is false and `note` says
    so: such a change is not a gain or a loss."""
    table = mart_net_worth_daily
    with reading(request, claims) as (connection, user):
        last = connection.execute(
            select(func.max(table.c.day)).where(table.c.user_id == user.id)
        ).scalar()
        result = []
        base = user.base_currency
        if last is not None:
            end = _net_worth_on(connection, user.id, last)
            base = connection.execute(
                select(table.c.base_currency).where(
                    and_(table.c.user_id == user.id, table.c.day == last)
                )
            ).scalar_one()
            for period in ("week", "month", "year_to_date"):
                since = period_start(period, last)
                start = _net_worth_on(connection, user.id, since)
                result.append(change_body(period, since, start, end))
    return json_response({"base_currency": base, "as_of": day(last), "changes": result})


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
