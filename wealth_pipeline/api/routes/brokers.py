"""`/api/brokers/`: the broker catalogue with each credential schema."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Request

from wealth_pipeline.api.body import json_response
from wealth_pipeline.api.principal import Authenticated, reading
from wealth_pipeline.api.schemas import BrokerOut, Problem
from wealth_pipeline.brokers.catalogue import get_broker, list_brokers

router = APIRouter(prefix="/api/brokers", tags=["brokers"], responses={401: {"model": Problem}})
CODE = re.compile(r"^[a-z][a-z0-9_]{1,39}$")


def broker_body(row: Mapping[str, Any]) -> dict[str, Any]:
    """What a client needs to add an account; server endpoints stay internal."""
    return {
        "code": row["code"],
        "name": row["name"],
        "integration_type": row["integration_type"],
        "country": row["country"],
        "default_currency": row["default_currency"],
        "website_url": row["website_url"],
        "is_active": bool(row["is_active"]),
        "supports_2fa": bool(row["supports_2fa"]),
        "supports_auto_sync": bool(row["supports_auto_sync"]),
        "sync_mode": row["sync_mode"],
        "sync_note": row["sync_note"],
        "credential_schema": row["credential_schema"],
    }


@router.get("/", response_model=list[BrokerOut], summary="The broker catalogue")
def brokers(request: Request, claims: Authenticated) -> object:
    with reading(request, claims) as (connection, _):
        return json_response([broker_body(row) for row in list_brokers(connection)])


@router.get(
    "/{code}/",
    response_model=BrokerOut,
    responses={404: {"model": Problem}},
    summary="One broker of the catalogue",
)
def broker(
    request: Request,
    code: Annotated[str, Path(max_length=40)],
    claims: Authenticated,
) -> object:
    with reading(request, claims) as (connection, _):
        row = get_broker(connection, code) if CODE.match(code.strip().lower()) else None
    if row is None:
        raise HTTPException(404, f"no broker with code {code!r}")
    return json_response(broker_body(row))
