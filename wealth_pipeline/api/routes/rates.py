"""`/api/exchange-rates/`: every ECB currency in one base on one day, by the one rate lookup."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request
from sqlalchemy import and_, select

from wealth_pipeline.api.body import json_response
from wealth_pipeline.api.principal import Authenticated, reading
from wealth_pipeline.api.schemas import Problem, RatesOut
from wealth_pipeline.fx.lookup import ECB_FIRST_DAY, LOOKBACK, FxRate, RateBook, default_day
from wealth_pipeline.warehouse.schema import exchange_rates

router = APIRouter(prefix="/api", tags=["exchange rates"], responses={401: {"model": Problem}})


@router.get(
    "/exchange-rates/",
    response_model=RatesOut,
    responses={404: {"model": Problem}, 422: {"model": Problem}},
    summary="Exchange rates for a day: 1 `base` = rate currency",
)
def rates(
    request: Request,
    claims: Authenticated,
    on: Annotated[
        date | None,
        Query(alias="date", description="YYYY-MM-DD; default: the latest ECB day stored"),
    ] = None,
    base: Annotated[
        str | None,
        Query(min_length=3, max_length=3, description="ISO 4217 code; default: your base currency"),
    ] = None,
) -> object:
    """The latest ECB rates on or before the day (at most 14 days back); crosses through EUR
    computed exactly, rounded once to 12 places: the same rates every conversion uses."""
    with reading(request, claims) as (connection, user):
        base_code = (base or user.base_currency).upper()
        if on is None:
            on = default_day(connection)
            if on is None:
                raise HTTPException(404, "no exchange rates are stored yet")
        if on < ECB_FIRST_DAY:
            raise HTTPException(404, f"the ECB publishes rates from {ECB_FIRST_DAY} on")
        book = RateBook.load(connection, on, on)
        if not book.knows(base_code):
            raise HTTPException(
                422, f"unknown currency {base_code}: the ECB publishes no reference rate for it"
            )
        quoted = connection.execute(
            select(exchange_rates.c.quote_currency)
            .distinct()
            .where(
                and_(
                    exchange_rates.c.base_currency == "EUR",
                    exchange_rates.c.rate_date >= on - LOOKBACK,
                    exchange_rates.c.rate_date <= on,
                )
            )
        ).scalars()
        codes = sorted((set(quoted) | {"EUR"}) - {base_code})
    found = [book.rate(base_code, code, on) for code in codes]
    listed = [rate for rate in found if isinstance(rate, FxRate)]
    if not listed:
        reason = book.rate(base_code, "EUR" if base_code != "EUR" else "USD", on)
        detail = getattr(reason, "reason", None) or f"no exchange rates for {on.isoformat()}"
        raise HTTPException(404, detail)
    return json_response(
        {
            "date": on.isoformat(),
            "base": base_code,
            "rates": [
                {
                    "currency": rate.to_currency,
                    "rate": str(rate.rate),
                    "rate_date": rate.rate_date.isoformat(),
                }
                for rate in listed
            ],
        }
    )
