"""One-time sign-in links for the dashboard: the browser never sees a password.

`wealth dashboard link --user U` checks the password at the terminal (where the vault
already asks for it) and prints a URL with a random code in its fragment. The dashboard
trades the code, once, for a session (`/api/session/`). Only a SHA-256 hash of the code is
stored, so a copy of the warehouse cannot be used to sign in; a code works once and only
until it expires, and a password change (a new `credentials_version`) voids it.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, and_, delete, insert, or_, select, update

from wealth_pipeline.warehouse.schema import signin_links, users

CODE_BYTES = 32  # 256 bits: guessing is hopeless even without the login limits
DEFAULT_LIFETIME = timedelta(minutes=10)
MAX_LIFETIME = timedelta(hours=24)


@dataclass(frozen=True)
class Redeemed:
    """Whom a redeemed code signs in, with the credentials version it was issued under."""

    user_id: int
    credentials_version: int


def _now() -> datetime:
    return datetime.now(UTC)


def code_hash(code: str) -> str:
    return hashlib.sha256(code.encode("utf-8")).hexdigest()


def create_link_code(
    connection: Connection,
    user_id: int,
    credentials_version: int,
    lifetime: timedelta = DEFAULT_LIFETIME,
) -> str:
    """A new single-use code for `user_id`; expired and used codes are cleared on the way."""
    if not timedelta(0) < lifetime <= MAX_LIFETIME:
        raise ValueError(f"a sign-in link lives between 1 minute and {MAX_LIFETIME}")
    now = _now()
    connection.execute(
        delete(signin_links).where(
            or_(signin_links.c.expires_at < now, signin_links.c.used_at.is_not(None))
        )
    )
    code = secrets.token_urlsafe(CODE_BYTES)
    connection.execute(
        insert(signin_links).values(
            code_hash=code_hash(code),
            user_id=user_id,
            credentials_version=credentials_version,
            created_at=now,
            expires_at=now + lifetime,
        )
    )
    return code


def redeem_link_code(connection: Connection, code: str) -> Redeemed | None:
    """Use `code` once: whom it signs in, or None (unknown, used, expired, user changed).

    The conditional UPDATE makes two concurrent redemptions of one code yield one session.
    """
    digest = code_hash(code)
    now = _now()
    marked = connection.execute(
        update(signin_links)
        .where(
            and_(
                signin_links.c.code_hash == digest,
                signin_links.c.used_at.is_(None),
                signin_links.c.expires_at > now,
            )
        )
        .values(used_at=now)
    )
    if marked.rowcount != 1:
        return None
    row = connection.execute(
        select(
            signin_links.c.user_id,
            signin_links.c.credentials_version,
            users.c.is_active,
            users.c.credentials_version.label("current_version"),
        )
        .join(users, users.c.id == signin_links.c.user_id)
        .where(signin_links.c.code_hash == digest)
    ).first()
    if row is None or not row.is_active or row.credentials_version != row.current_version:
        return None
    return Redeemed(row.user_id, row.credentials_version)
