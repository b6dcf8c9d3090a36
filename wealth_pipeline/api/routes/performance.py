"""`/api/wealth/performance/` and `/api/accounts/{id}/flows/`: returns and cash flows, read
from the returns marts and the flows table (`wealth_pipeline.returns`, `wealth_pipeline.flows`)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request
from sqlalchemy import and_, func, select

from wealth_pipeline.api.body import day, json_response, text
from wealth_pipeline.api.principal import Authenticated, reading
from wealth_pipeline.api.routes.accounts import MAX_ID, MAX_PAGE_SIZE, AccountId, _page_url
from wealth_pipeline.api.schemas import FlowPage, PerformanceOut, Problem
from wealth_pipeline.returns.periods import (
    account_ids_with_returns,
    figures_body,
    performance,
)
from wealth_pipeline.warehouse.schema import cash_flow_coverage, cash_flows, financial_accounts

router = APIRouter(tags=["returns"], responses={401: {"model": Problem}, 422: {"model": Problem}})
Period = Literal["week", "month", "ytd", "1y", "3y", "5y", "max"]


def _owned(connection: Any, user_id: int, account_id: int) -> Any:
    row = connection.execute(
        select(financial_accounts.c.id, financial_accounts.c.name).where(
            and_(financial_accounts.c.id == account_id, financial_accounts.c.user_id == user_id)
        )
    ).first()
    if row is None:
        raise HTTPException(404, f"no such account: {account_id}")
    return row


@router.get(
    "/api/wealth/performance/",
    response_model=PerformanceOut,
    responses={404: {"model": Problem}},
    summary="Where the change came from, and time- and money-weighted returns, for a period",
)
def wealth_performance(
    request: Request,
    claims: Authenticated,
    period: Annotated[Period, Query(description="week, month, ytd, 1y, 3y, 5y or max")] = "ytd",
    account: Annotated[
        int | None, Query(ge=1, le=MAX_ID, description="one of your accounts (default: total)")
    ] = None,
) -> object:
    """Money as exact strings in the base currency; returns as ratios (0.05 = 5 %) with 8
    decimal places; the time-weighted return is annualised beyond 365 days (`annualised`).
    Without `account`, the total and each account."""
    with reading(request, claims) as (connection, user):
        names = {
            row.id: row.name
            for row in connection.execute(
                select(financial_accounts.c.id, financial_accounts.c.name).where(
                    financial_accounts.c.user_id == user.id
                )
            )
        }
        if account is not None:
            _owned(connection, user.id, account)
        total = performance(connection, user.id, period, account_id=account)
        per_account = []
        if account is None:
            for account_id in sorted(account_ids_with_returns(connection, user.id)):
                found = performance(connection, user.id, period, account_id=account_id)
                if found is not None:
                    per_account.append(
                        {**figures_body(found), "account_name": names.get(account_id, "")}
                    )
    if total is None:
        return json_response({"period": period, "total": None, "accounts": []})
    body = figures_body(total)
    if account is not None:
        body["account_name"] = names.get(account, "")
    return json_response({"period": period, "total": body, "accounts": per_account})


@router.get(
    "/api/accounts/{account_id}/flows/",
    response_model=FlowPage,
    responses={404: {"model": Problem}},
    summary="An account's cash flows, newest first, a page at a time",
)
def account_flows(
    request: Request,
    account_id: AccountId,
    claims: Authenticated,
    page: Annotated[int, Query(ge=1, le=MAX_ID, description="page number, from 1")] = 1,
    page_size: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE, description="flows per page")] = 50,
) -> object:
    with reading(request, claims) as (connection, user):
        _owned(connection, user.id, account_id)
        count = connection.execute(
            select(func.count()).where(cash_flows.c.account_id == account_id)
        ).scalar_one()
        covered = connection.execute(
            select(cash_flow_coverage.c.covered_from, cash_flow_coverage.c.covered_through).where(
                cash_flow_coverage.c.account_id == account_id
            )
        ).first()
        rows = connection.execute(
            select(
                cash_flows.c.id,
                cash_flows.c.flow_date,
                cash_flows.c.amount,
                cash_flows.c.currency,
                cash_flows.c.kind,
                cash_flows.c.source,
                cash_flows.c.description,
                cash_flows.c.base_currency,
                cash_flows.c.amount_base_currency,
                cash_flows.c.exchange_rate_used,
                cash_flows.c.rate_date,
                cash_flows.c.conversion_note,
                cash_flows.c.paired_flow_id,
            )
            .where(cash_flows.c.account_id == account_id)
            .order_by(cash_flows.c.flow_date.desc(), cash_flows.c.id.desc())
            .limit(page_size)
            .offset((page - 1) * page_size)
        ).all()
    return json_response(
        {
            "count": count,
            "page": page,
            "page_size": page_size,
            "covered_from": day(covered[0]) if covered else None,
            "covered_through": day(covered[1]) if covered else None,
            "next": _page_url(request, page + 1) if page * page_size < count else None,
            "previous": _page_url(request, page - 1) if page > 1 and count else None,
            "results": [
                {
                    "id": row.id,
                    "flow_date": day(row.flow_date),
                    "amount": text(row.amount),
                    "currency": row.currency,
                    "kind": row.kind,
                    "source": row.source,
                    "description": row.description,
                    "base_currency": row.base_currency,
                    "amount_base_currency": text(row.amount_base_currency),
                    "exchange_rate_used": text(row.exchange_rate_used),
                    "rate_date": day(row.rate_date),
                    "conversion_note": row.conversion_note,
                    "paired_flow_id": row.paired_flow_id,
                }
                for row in rows
            ],
        }
    )
