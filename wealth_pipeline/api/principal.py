"""Who is asking: the bearer token checked (HMAC only) and its user looked up once.

A token is honoured only while its user exists, is active and still has the
`credentials_version` the token was issued for (a password change bumps it).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Annotated

from fastapi import Depends, HTTPException, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Connection, bindparam, func, select

from wealth_pipeline import clock
from wealth_pipeline.api.tokens import LEEWAY_SECONDS, Claims, TokenError, Tokens
from wealth_pipeline.warehouse.driver import DriverStatement
from wealth_pipeline.warehouse.schema import mart_builds, profiles, users

bearer = HTTPBearer(
    auto_error=False,
    bearerFormat="JWT",
    description="An access token from POST /api/auth/login/ or /api/auth/refresh/.",
)
UNAUTHORIZED_HEADERS = {"WWW-Authenticate": "Bearer"}


def unauthorized(detail: str) -> HTTPException:
    return HTTPException(status_code=401, detail=detail, headers=UNAUTHORIZED_HEADERS)


async def access_claims(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)],
) -> Claims:
    """The access token's claims (signature, type, issuer, audience and times checked)."""
    if credentials is None or not credentials.credentials.strip():
        raise unauthorized("authentication required: send Authorization: Bearer <access token>")
    tokens: Tokens = request.app.state.tokens
    try:
        return tokens.access_claims(credentials.credentials.strip())
    except TokenError as exc:
        raise unauthorized(str(exc)) from None


Authenticated = Annotated[Claims, Depends(access_claims)]


@dataclass(frozen=True)
class Principal:
    """The token's user with their profile: every query is scoped to `id`."""

    id: int
    username: str
    email: str | None
    base_currency: str
    auto_sync_enabled: bool
    sync_frequency_hours: int
    monthly_aggregation: str
    weekly_report_enabled: bool
    report_email: str | None


_USER_AND_PROFILE = select(
    users.c.id,
    users.c.username,
    users.c.email,
    users.c.is_active,
    users.c.credentials_version,
    users.c.created_at,
    profiles.c.base_currency,
    profiles.c.auto_sync_enabled,
    profiles.c.sync_frequency_hours,
    profiles.c.monthly_aggregation,
    profiles.c.weekly_report_enabled,
    profiles.c.report_email,
).join(profiles, profiles.c.user_id == users.c.id)


# Statements made once, with the id bound (a `.where()` per request was a new statement
# whose cache key SQLAlchemy computed each time).
_PRINCIPAL = _USER_AND_PROFILE.where(users.c.id == bindparam("user_id"))
# The same row and, in the one query, when the marts were last built (the ETag's source):
# every wealth answer starts with it, so it runs on the driver's cursor.
_PRINCIPAL_AND_BUILD = DriverStatement(
    _USER_AND_PROFILE.add_columns(
        select(func.max(mart_builds.c.built_at)).scalar_subquery().label("marts_built_at")
    ).where(users.c.id == bindparam("user_id"))
)


def load_principal(connection: Connection, claims: Claims) -> Principal:
    return _checked(connection.execute(_PRINCIPAL, {"user_id": claims.user_id}).first(), claims)


def load_principal_and_build(connection: Connection, claims: Claims) -> tuple[Principal, object]:
    """The checked user and the marts' last build time (raw), in one query."""
    row = _PRINCIPAL_AND_BUILD.first(connection, {"user_id": claims.user_id})
    return _checked(row, claims), row.marts_built_at


def _checked(row, claims: Claims) -> Principal:
    if (
        row is None
        or not row.is_active
        or row.credentials_version != claims.version
        or issued_before(claims, row.created_at)
    ):
        raise unauthorized("the token is no longer valid: log in again")
    return Principal(**{field.name: getattr(row, field.name) for field in fields(Principal)})


def issued_before(claims: Claims, created_at: datetime) -> bool:
    """Whether the token is older than its user: then it was issued to an earlier user
    with the same id (SQLite hands a deleted highest id out again)."""
    return claims.issued_at + LEEWAY_SECONDS < int(clock.as_utc(created_at).timestamp())


@contextmanager
def reading(request: Request, claims: Claims) -> Iterator[tuple[Connection, Principal]]:
    """One read-only connection (one transaction) and the checked user, for one request."""
    with request.app.state.reader.connect() as connection:
        yield connection, load_principal(connection, claims)
