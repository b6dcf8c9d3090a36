"""`/api/profile/`: the user's plain settings."""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter, Request

from wealth_pipeline.api.body import json_response
from wealth_pipeline.api.principal import Authenticated, reading
from wealth_pipeline.api.schemas import Problem, ProfileOut

router = APIRouter(prefix="/api", tags=["profile"], responses={401: {"model": Problem}})


@router.get("/profile/", response_model=ProfileOut, summary="Your profile settings")
def profile(request: Request, claims: Authenticated) -> object:
    with reading(request, claims) as (_, user):
        body = asdict(user)
    del body["id"]
    return json_response(body)
