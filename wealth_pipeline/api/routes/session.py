"""`/api/session/`: the dashboard's sign-in by one-time link, refresh and sign-out.

The browser trades a link's code (`wealth dashboard link`) for a short-lived access token,
which it keeps in memory only, and a refresh token in an HttpOnly, SameSite=Strict cookie
scoped to this path: page scripts can never read it, and no other site can send it. The
refresh rotates like `/api/auth/refresh/` (a replayed token revokes its family); signing out
revokes the family and clears the cookie. Failed codes count against the same per-address
limits as failed logins.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Cookie, HTTPException, Request, Response
from pydantic import BaseModel, Field
from sqlalchemy import select

from wealth_pipeline.api.body import json_response
from wealth_pipeline.api.login_guard import LoginGuard
from wealth_pipeline.api.principal import unauthorized
from wealth_pipeline.api.schemas import Problem
from wealth_pipeline.api.tokens import REFRESH, TokenError, TokenPair, Tokens
from wealth_pipeline.security.signin_links import redeem_link_code
from wealth_pipeline.warehouse.schema import profiles, users

router = APIRouter(prefix="/api/session", tags=["dashboard session"])
COOKIE = "wealth_session"
COOKIE_PATH = "/api/session/"
# Failed codes are counted per address under this name (a code names no user).
LINK_USERNAME = "(sign-in link)"
BAD_LINK = "this sign-in link is unknown, used or expired: ask for a new one with `wealth dashboard link`"


class SessionRequest(BaseModel):
    code: str = Field(min_length=1, max_length=200, description="the code from the link")


class SessionUser(BaseModel):
    id: int
    username: str
    base_currency: str


class SessionOut(BaseModel):
    access: str
    token_type: str
    expires_in: int
    user: SessionUser


def _address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _same_origin(request: Request) -> None:
    """Refuse a browser request that another site started (defence beside SameSite)."""
    origin = request.headers.get("origin")
    if origin is None:
        return
    expected = f"{request.url.scheme}://{request.headers.get('host', '')}"
    if origin != expected:
        raise HTTPException(403, "cross-site request refused")


def _session_response(request: Request, pair: TokenPair, user_id: int) -> Response:
    tokens: Tokens = request.app.state.tokens
    with request.app.state.reader.connect() as connection:
        row = connection.execute(
            select(users.c.username, profiles.c.base_currency)
            .join(profiles, profiles.c.user_id == users.c.id)
            .where(users.c.id == user_id)
        ).one()
    response = json_response(
        {
            "access": pair.access,
            "token_type": "Bearer",
            "expires_in": int(tokens.access_lifetime.total_seconds()),
            "user": {"id": user_id, "username": row.username, "base_currency": row.base_currency},
        }
    )
    response.set_cookie(
        COOKIE,
        pair.refresh,
        max_age=int(tokens.refresh_lifetime.total_seconds()),
        path=COOKIE_PATH,
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="strict",
    )
    return response


def _cleared(status_code: int, detail: str | None = None) -> Response:
    response = (
        Response(status_code=status_code)
        if detail is None
        else json_response({"detail": detail}, status_code)
    )
    response.delete_cookie(COOKIE, path=COOKIE_PATH, httponly=True, samesite="strict")
    return response


@router.post(
    "/",
    response_model=SessionOut,
    responses={
        401: {"model": Problem},
        403: {"model": Problem},
        422: {"model": Problem},
        429: {"model": Problem, "description": "too many failed sign-ins: see Retry-After"},
    },
    summary="Sign in with a one-time link's code: an access token and a session cookie",
)
def sign_in(request: Request, body: SessionRequest) -> object:
    _same_origin(request)
    guard: LoginGuard = request.app.state.login_guard
    address = _address(request)
    wait = guard.retry_after(LINK_USERNAME, address)
    if wait is not None:
        raise HTTPException(
            429, "too many failed sign-ins: try again later", headers={"Retry-After": str(wait)}
        )
    tokens: Tokens = request.app.state.tokens
    with request.app.state.writer.begin() as connection:
        redeemed = redeem_link_code(connection, body.code.strip())
        pair = (
            None
            if redeemed is None
            else tokens.issue(connection, redeemed.user_id, redeemed.credentials_version)
        )
    if redeemed is None or pair is None:
        guard.failed(LINK_USERNAME, address)
        raise unauthorized(BAD_LINK)
    guard.succeeded(LINK_USERNAME, address)
    return _session_response(request, pair, redeemed.user_id)


@router.post(
    "/refresh/",
    response_model=SessionOut,
    responses={401: {"model": Problem}, 403: {"model": Problem}},
    summary="A new access token from the session cookie (which rotates)",
)
def refresh(
    request: Request,
    session: Annotated[str | None, Cookie(alias=COOKIE, include_in_schema=False)] = None,
) -> object:
    _same_origin(request)
    if not session:
        raise unauthorized("not signed in")
    tokens: Tokens = request.app.state.tokens
    try:
        with request.app.state.writer.begin() as connection:
            pair = tokens.rotate(connection, session.strip())
            claims = tokens.decode(session.strip(), REFRESH)
    except TokenError:
        return _cleared(401, "the session has ended: sign in again")
    if pair is None:
        return _cleared(401, "the session has ended: sign in again")
    return _session_response(request, pair, claims.user_id)


@router.post(
    "/logout/",
    status_code=204,
    responses={403: {"model": Problem}},
    summary="Sign out: the session's tokens are revoked and the cookie cleared",
)
def sign_out(
    request: Request,
    session: Annotated[str | None, Cookie(alias=COOKIE, include_in_schema=False)] = None,
) -> Response:
    _same_origin(request)
    if session:
        tokens: Tokens = request.app.state.tokens
        try:
            claims = tokens.decode(session.strip(), REFRESH)
        except TokenError:
            claims = None
        if claims is not None and claims.family:
            with request.app.state.writer.begin() as connection:
                tokens.revoke_family(connection, claims.family)
    return _cleared(204)
