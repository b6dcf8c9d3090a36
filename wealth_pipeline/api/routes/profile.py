"""`/api/profile/`: the user's plain settings."""

from __future__ import annotations

from fastapi import APIRouter, Request

from wealth_pipeline.api.body import json_response
from wealth_pipeline.api.principal import Authenticated, reading
from wealth_pipeline.api.schemas import Problem, ProfileOut

router = APIRouter(prefix="/api", tags=["profile"], responses={401: {"model": Problem}})


@router.get("/profile/", response_model=ProfileOut, summary="Your profile settings")
def profile(request: Request, claims: Authenticated) -> object:
    with reading(request, claims) as (_, user):
        return json_response(
            {
                "username": user.username,
                "email": user.email,
                "base_currency": user.base_currency,
                "auto_sync_enabled": user.auto_sync_enabled,
                "sync_frequency_hours": user.sync_frequency_hours,
                "monthly_aggregation": user.monthly_aggregation,
                "weekly_report_enabled": user.weekly_report_enabled,
                "report_email": user.report_email,
            }
        )
