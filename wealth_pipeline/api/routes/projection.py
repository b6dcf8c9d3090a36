"""`/api/wealth/projection/`: the Monte Carlo projection of your net worth in today's money,
your goals' chances and when you could stop working (a model, not financial advice).

Seeded per user and ISO week (Europe/Berlin), so the answer is the weekly report's and the
`wealth_projection` asset's for the same inputs. Money travels as exact decimal strings
(band values rounded half-even to the cent); probabilities as decimal strings with 4 places
(paths reaching / 10,000 paths, exact).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request
from pydantic import BaseModel

from wealth_pipeline.api.body import json_response
from wealth_pipeline.api.principal import Authenticated, reading
from wealth_pipeline.api.schemas import Money, Problem
from wealth_pipeline.clock import iso_week, today
from wealth_pipeline.projection import present
from wealth_pipeline.projection.inputs import ProjectionInputError
from wealth_pipeline.projection.service import NoProjection, project

router = APIRouter(
    prefix="/api/wealth",
    tags=["wealth"],
    responses={401: {"model": Problem}, 422: {"model": Problem}},
)
AMOUNT = r"^-?[0-9]{1,12}(\.[0-9]{1,2})?$"


class BandOut(BaseModel):
    month: int
    date: str
    p5: Money
    p25: Money
    p50: Money
    p75: Money
    p95: Money


class GoalOut(BaseModel):
    goal_id: int
    name: str
    target: Money
    target_date: str
    probability: str
    paths: int
    paths_reaching: int
    median_date: str | None
    saving_for_50: Money | None
    saving_for_80: Money | None
    more_for_80: Money | None
    bands_at_date: dict[str, Money]
    summary: (
        str  # the report's sentence: "House: 72 % by June 2030; save €310 more a month for 80 %"
    )


class ProjectionOut(BaseModel):
    base_currency: str
    as_of: str
    week: str
    inputs: dict[str, Any]
    percentiles: list[int]
    bands: list[BandOut]
    goals: list[GoalOut]
    stop_working: dict[str, Any] | None
    disclaimer: str


@router.get(
    "/projection/",
    response_model=ProjectionOut,
    responses={404: {"model": Problem}},
    summary="Where your net worth may be heading: percentile bands, goals, when you could stop working",
)
def projection(
    request: Request,
    claims: Authenticated,
    method: Annotated[
        Literal["auto", "parametric", "bootstrap"],
        Query(description="auto: your own monthly returns once there are 36 months"),
    ] = "auto",
    saving: Annotated[
        str | None,
        Query(pattern=AMOUNT, description="monthly saving instead of the last 12 months' median"),
    ] = None,
) -> object:
    """10,000 paths of monthly steps over 50 years, in today's money. `inputs` says which
    return model was used and why, its parameters and the seed."""
    week = iso_week(today())
    with reading(request, claims) as (connection, user):
        try:
            result = project(
                connection,
                user.id,
                week,
                method=method,
                saving=None if saving is None else Decimal(saving),
            )
        except NoProjection as exc:
            raise HTTPException(status_code=404, detail=str(exc)) from None
        except ProjectionInputError as exc:
            raise HTTPException(status_code=422, detail=str(exc)) from None
    body = result.as_dict()
    for goal, entry in zip(result.goals, body["goals"], strict=True):
        entry["summary"] = present.goal_line(goal, result.saving.monthly, result.base_currency)
    return json_response(body)
