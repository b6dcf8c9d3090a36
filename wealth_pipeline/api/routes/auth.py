"""`/api/auth/`: salts, login and refresh. The only routes that write (token bookkeeping)."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request, Response
from sqlalchemy import select

from wealth_pipeline.api.body import json_response
from wealth_pipeline.api.login_guard import LoginGuard, LoginsBusy
from wealth_pipeline.api.principal import unauthorized
from wealth_pipeline.api.schemas import (
    LoginOut,
    LoginRequest,
    Problem,
    RefreshRequest,
    Salts,
    TokenPairOut,
)
from wealth_pipeline.api.tokens import TokenError, TokenPair, Tokens
from wealth_pipeline.profiles import USERNAME_PATTERN
from wealth_pipeline.security.envelope import associated_data
from wealth_pipeline.security.kdf import KEY_BYTES, KdfParams, burn_verification
from wealth_pipeline.security.vault import (
    PURPOSE_DATA_KEY,
    common_kdf_params,
    login_parameters,
    verify_login,
)
from wealth_pipeline.warehouse.schema import profiles, users

router = APIRouter(prefix="/api/auth", tags=["auth"])
WRONG_LOGIN = "wrong username or password"
# FastAPI answers 400 for a body it cannot decode at all (not UTF-8): documented, so the
# OpenAPI document lists every answer the routes give.
UNREADABLE_BODY = {400: {"model": Problem, "description": "the body cannot be read as JSON"}}


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


@router.get(
    "/salt/",
    response_model=Salts,
    responses={422: {"model": Problem}},
    summary="The salts and Argon2id parameters to derive the login hash and the KEK",
)
def salt(request: Request, username: Annotated[str, Query(min_length=1, max_length=150)]) -> object:
    """Unknown usernames get stable fake salts, so the answer does not reveal who exists."""
    tokens: Tokens = request.app.state.tokens
    found = None
    if USERNAME_PATTERN.fullmatch(username):
        with request.app.state.reader.connect() as connection:
            found = login_parameters(connection, username)
    if found is None:
        auth_salt, kek_salt = tokens.fake_salt(username, "auth"), tokens.fake_salt(username, "kek")
        # The parameters most stored users have (what a new user gets while there are none):
        # after a change of the defaults, the newest ones would give unknown names away.
        with request.app.state.reader.connect() as connection:
            params = common_kdf_params(connection, request.app.state.kdf_params)
    else:
        auth_salt, kek_salt, params = found.auth_salt, found.kek_salt, found.kdf_params
    return json_response(
        {"auth_salt": auth_salt, "kek_salt": kek_salt, "kdf_params": params.to_json()}
    )


_LOGIN_ROW = select(
    users.c.username,
    users.c.email,
    users.c.credentials_version,
    users.c.wrapped_data_key,
    users.c.kek_salt,
    users.c.kdf_params,
    profiles.c.base_currency,
).join(profiles, profiles.c.user_id == users.c.id)


def _pair_body(tokens: Tokens, pair: TokenPair) -> dict[str, object]:
    return {
        "access": pair.access,
        "refresh": pair.refresh,
        "token_type": "Bearer",
        "expires_in": int(tokens.access_lifetime.total_seconds()),
    }


@router.post(
    "/login/",
    response_model=LoginOut,
    responses={
        **UNREADABLE_BODY,
        401: {"model": Problem},
        422: {"model": Problem},
        429: {"model": Problem, "description": "too many failed logins: see Retry-After"},
        503: {"model": Problem, "description": "too many logins at once: retry shortly"},
    },
    summary="Log in with the client-derived auth_hash; tokens and the wrapped data key",
)
def login(request: Request, credentials: LoginRequest) -> object:
    try:
        auth_hash = base64.b64decode(credentials.auth_hash, validate=True)
    except (binascii.Error, ValueError):
        raise HTTPException(422, "auth_hash must be base64 (of 32 bytes)") from None
    if len(auth_hash) != KEY_BYTES:
        raise HTTPException(422, f"auth_hash must be base64 of {KEY_BYTES} bytes")
    tokens: Tokens = request.app.state.tokens
    guard: LoginGuard = request.app.state.login_guard
    username = credentials.username
    address = request.client.host if request.client else "unknown"
    wait = guard.retry_after(username, address)
    if wait is not None:
        raise HTTPException(
            429,
            "too many failed logins: try again later",
            headers={"Retry-After": str(wait)},
        )
    user_id, row = None, None
    try:
        with guard.turn():
            if USERNAME_PATTERN.fullmatch(username):
                with request.app.state.reader.connect() as connection:
                    user_id = verify_login(connection, username, auth_hash)
                    if user_id is not None:
                        row = connection.execute(_LOGIN_ROW.where(users.c.id == user_id)).first()
            else:
                burn_verification(request.app.state.kdf_params)
    except LoginsBusy:
        raise HTTPException(
            503, "too many logins at once: retry shortly", headers={"Retry-After": "1"}
        ) from None
    if user_id is None or row is None:
        guard.failed(username, address)
        raise unauthorized(WRONG_LOGIN)
    guard.succeeded(username, address)
    with request.app.state.writer.begin() as connection:
        pair = tokens.issue(connection, user_id, row.credentials_version)
    return json_response(
        {
            **_pair_body(tokens, pair),
            "user": {
                "id": user_id,
                "username": row.username,
                "email": row.email,
                "base_currency": row.base_currency,
            },
            "encrypted_user_key": {
                "wrapped_data_key": _b64(bytes(row.wrapped_data_key)),
                "kek_salt": row.kek_salt,
                "kdf_params": KdfParams.from_json(row.kdf_params).to_json(),
                "associated_data": _b64(associated_data(user_id, None, PURPOSE_DATA_KEY)),
            },
        }
    )


@router.post(
    "/refresh/",
    response_model=TokenPairOut,
    responses={**UNREADABLE_BODY, 401: {"model": Problem}, 422: {"model": Problem}},
    summary="Trade a refresh token (once) for a new access and refresh token",
)
def refresh(request: Request, body: RefreshRequest) -> object:
    """A refresh token works once; presenting it again revokes its whole family."""
    tokens: Tokens = request.app.state.tokens
    try:
        with request.app.state.writer.begin() as connection:
            pair = tokens.rotate(connection, body.refresh.strip())
    except TokenError as exc:
        raise unauthorized(str(exc)) from None
    if pair is None:
        raise unauthorized("the refresh token was already used or revoked: log in again")
    return json_response(_pair_body(tokens, pair))


@router.post(
    "/logout/",
    status_code=204,
    response_class=Response,
    responses={**UNREADABLE_BODY, 401: {"model": Problem}, 422: {"model": Problem}},
    summary="Log out: revoke the refresh token and every token of its family",
)
def logout(request: Request, body: RefreshRequest) -> Response:
    """The refresh token, and all refreshed from the same login, stop working at once.

    Access tokens already issued stay valid until they expire (minutes): drop them too.
    """
    tokens: Tokens = request.app.state.tokens
    try:
        with request.app.state.writer.begin() as connection:
            tokens.revoke(connection, body.refresh.strip())
    except TokenError as exc:
        raise unauthorized(str(exc)) from None
    return Response(status_code=204, headers={"Cache-Control": "no-store"})
