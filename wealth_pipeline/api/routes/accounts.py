"""`/api/accounts/`: the user's accounts and their snapshots; never credentials or raw data."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query, Request
from sqlalchemy import and_, func, select

from wealth_pipeline.accounts import list_accounts
from wealth_pipeline.api.body import day, json_response, text
from wealth_pipeline.api.principal import Authenticated, reading
from wealth_pipeline.api.schemas import AccountOut, Problem, SnapshotPage
from wealth_pipeline.brokers.catalogue import MASK, credential_fields
from wealth_pipeline.brokers.connection import sync_command
from wealth_pipeline.sync.waiting import why_of
from wealth_pipeline.warehouse.schema import (
    account_snapshots,
    financial_accounts,
    portfolio_positions,
)

router = APIRouter(prefix="/api/accounts", tags=["accounts"], responses={401: {"model": Problem}})
MAX_ID = 2**31 - 1  # ids are 32-bit on PostgreSQL: larger ones are refused, not looked up
MAX_PAGE_SIZE = 500
AccountId = Annotated[int, Path(ge=1, le=MAX_ID, description="an account id of yours")]


def _waiting(row: Mapping[str, Any], username: str) -> dict[str, Any] | None:
    """What a waiting account needs from its owner: the same words as the e-mail and report."""
    if row["status"] != "pending_auth":
        return None
    return {
        "reason": why_of(row["status_message"]) or "the login needs you",
        "last_data": day(row["latest_date"]),
        "command": sync_command(row["id"], username),
    }


def account_body(row: Mapping[str, Any], username: str) -> dict[str, Any]:
    latest = None
    if row["latest_date"] is not None:
        latest = {
            "snapshot_date": day(row["latest_date"]),
            "balance": text(row["latest_balance"]),
            "currency": row["latest_currency"],
        }
    credentials = None
    if row["encrypted_credentials"] is not None:
        # The API holds no key: it cannot read even the fields that are not secret.
        fields = credential_fields(row["credential_schema"] or {})
        credentials = {field.name: MASK for field in fields}
    return {
        "id": row["id"],
        "name": row["name"],
        "broker": {"code": row["broker_code"], "name": row["broker_name"]},
        "account_type": row["account_type"],
        "account_identifier": row["account_identifier"],
        "currency": row["currency"],
        "status": row["status"],
        "status_message": row["status_message"],
        "sync_mode": row["sync_mode"],
        "waiting": _waiting(row, username),
        "is_manual": bool(row["is_manual"]),
        "sync_enabled": bool(row["sync_enabled"]),
        "last_synced_at": day(row["last_synced_at"]),
        "created_at": day(row["created_at"]),
        "latest_snapshot": latest,
        "credentials": credentials,
    }


@router.get("/", response_model=list[AccountOut], summary="Your accounts")
def accounts(request: Request, claims: Authenticated) -> object:
    with reading(request, claims) as (connection, user):
        return json_response(
            [account_body(row, user.username) for row in list_accounts(connection, user.id)]
        )


def _no_account(account_id: int) -> HTTPException:
    return HTTPException(404, f"no such account: {account_id}")


@router.get(
    "/{account_id}/",
    response_model=AccountOut,
    responses={404: {"model": Problem}, 422: {"model": Problem}},
    summary="One of your accounts",
)
def account(request: Request, account_id: AccountId, claims: Authenticated) -> object:
    with reading(request, claims) as (connection, user):
        for row in list_accounts(connection, user.id):
            if row["id"] == account_id:
                return json_response(account_body(row, user.username))
    raise _no_account(account_id)


_SNAPSHOT_COLUMNS = (
    account_snapshots.c.id,
    account_snapshots.c.snapshot_date,
    account_snapshots.c.balance,
    account_snapshots.c.currency,
    account_snapshots.c.available_balance,
    account_snapshots.c.base_currency,
    account_snapshots.c.balance_base_currency,
    account_snapshots.c.exchange_rate_used,
    account_snapshots.c.rate_date,
    account_snapshots.c.conversion_note,
    account_snapshots.c.snapshot_source,
)


def _page_url(request: Request, page: int) -> str:
    return str(request.url.include_query_params(page=page))


@router.get(
    "/{account_id}/snapshots/",
    response_model=SnapshotPage,
    responses={404: {"model": Problem}, 422: {"model": Problem}},
    summary="An account's snapshots, newest first, a page at a time",
)
def snapshots(
    request: Request,
    account_id: AccountId,
    claims: Authenticated,
    page: Annotated[int, Query(ge=1, le=MAX_ID, description="page number, from 1")] = 1,
    page_size: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE, description="snapshots per page")] = 50,
) -> object:
    with reading(request, claims) as (connection, user):
        owned = connection.execute(
            select(financial_accounts.c.id).where(
                and_(financial_accounts.c.id == account_id, financial_accounts.c.user_id == user.id)
            )
        ).first()
        if owned is None:
            raise _no_account(account_id)
        count = connection.execute(
            select(func.count()).where(account_snapshots.c.account_id == account_id)
        ).scalar_one()
        positions = (
            select(func.count())
            .where(portfolio_positions.c.snapshot_id == account_snapshots.c.id)
            .scalar_subquery()
        )
        rows = connection.execute(
            select(*_SNAPSHOT_COLUMNS, positions.label("position_count"))
            .where(account_snapshots.c.account_id == account_id)
            .order_by(account_snapshots.c.snapshot_date.desc())
            .limit(page_size)
            .offset((page - 1) * page_size)
        ).all()
    results = [
        {
            "id": row.id,
            "snapshot_date": day(row.snapshot_date),
            "balance": text(row.balance),
            "currency": row.currency,
            "available_balance": text(row.available_balance),
            "base_currency": row.base_currency,
            "balance_base_currency": text(row.balance_base_currency),
            "exchange_rate_used": text(row.exchange_rate_used),
            "rate_date": day(row.rate_date),
            "conversion_note": row.conversion_note,
            "snapshot_source": row.snapshot_source,
            "position_count": row.position_count,
        }
        for row in rows
    ]
    return json_response(
        {
            "count": count,
            "page": page,
            "page_size": page_size,
            "next": _page_url(request, page + 1) if page * page_size < count else None,
            "previous": _page_url(request, page - 1) if page > 1 and count else None,
            "results": results,
        }
    )
