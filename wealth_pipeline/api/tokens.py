"""The API's tokens (RFC 8725): short access JWTs, rotating refresh JWTs, fake salts.

- One algorithm, pinned in code (HS256), with a key of at least 32 bytes from
  `WEALTH_API_SECRET_KEY` or, without it, a random key file generated once (mode 0600).
- Every token names its issuer and audience and carries `exp`, `iat`, `nbf`, `sub`, `typ`
  and `ver` (the user's `credentials_version`): a password change bumps it, so every token
  issued before is refused.
- Refresh tokens are single use: each has a row in `refresh_tokens`; using one marks it used
  and issues the next of the same family; presenting a used (or revoked) one again revokes
  the whole family (someone else holds a copy).
- Unknown usernames get stable fake salts derived with HMAC from the key, so the salt
  endpoint does not tell which usernames exist.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import secrets
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
from sqlalchemy import Connection, and_, delete, insert, select, update

from wealth_pipeline.files import private_folder
from wealth_pipeline.settings import Settings
from wealth_pipeline.warehouse.schema import refresh_tokens, users
from wealth_pipeline.warehouse.types import MAX_ID

ALGORITHM = "HS256"  # pinned: decoding never takes the algorithm from the token
ISSUER = "wealth-pipeline"
AUDIENCE = "wealth-pipeline-api"
MIN_KEY_BYTES = 32
KEY_FILE_BYTES = 64
LEEWAY_SECONDS = 10
REQUIRED_CLAIMS = ["exp", "iat", "nbf", "sub", "typ", "iss", "aud", "ver"]
TIME_CLAIMS = ("exp", "iat", "nbf")  # JSON numbers (RFC 7519 NumericDate), never strings
TOKEN_ID = re.compile(r"[0-9a-f]{32}")  # jti and fam, as `issue` makes them
TOKEN_SUBJECT = re.compile(r"[1-9][0-9]{0,9}")  # a user id, as a string of ASCII digits
ACCESS, REFRESH = "access", "refresh"
# Explicit typing (RFC 8725 3.11, RFC 9068): the header names the kind too, so no other JWT
# made with this key, nor one kind for the other, passes for a token of ours.
HEADER_TYPES = {ACCESS: "at+jwt", REFRESH: "rt+jwt"}
SECRET_KEY_ENV = "WEALTH_API_SECRET_KEY"
# What the refusal says: "not an access token", "not a refresh token".
KIND_NAMES = {ACCESS: "an access token", REFRESH: "a refresh token"}
# Access tokens remembered as verified (`Tokens.access_claims`): a few per active client.
VERIFIED_TOKENS = 4096


class TokenError(Exception):
    """A token that is refused; the message is safe to show (it never echoes the token)."""


class KeyConfigurationError(ValueError):
    """The signing key cannot be used: the API refuses to start."""


def load_signing_key(settings: Settings) -> bytes:
    """`WEALTH_API_SECRET_KEY` (UTF-8, at least 32 bytes), else the generated key file."""
    configured = os.environ.get(SECRET_KEY_ENV, "")
    if configured.strip():
        key = configured.strip().encode("utf-8")
        if len(key) < MIN_KEY_BYTES:
            raise KeyConfigurationError(
                f"{SECRET_KEY_ENV} must be at least {MIN_KEY_BYTES} bytes long "
                f"(it has {len(key)}); generate one with "
                "`python -c 'import secrets; print(secrets.token_urlsafe(48))'`"
            )
        return key
    return _key_file(settings.api_key_file)


def _key_file(path: Path) -> bytes:
    """Read the key file, creating it (0600, in a 0700 folder) on first use.

    The key is written to a temporary file and linked into place, so a worker starting at
    the same moment reads either no file (and makes its own attempt) or a whole key.
    """
    if not path.exists():
        private_folder(path.parent)
        encoded = base64.b64encode(secrets.token_bytes(KEY_FILE_BYTES))
        descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=".api-key-")
        try:
            with os.fdopen(descriptor, "wb") as handle:  # mkstemp makes it 0600
                handle.write(encoded + b"\n")
                handle.flush()
                os.fsync(handle.fileno())
            os.link(temporary, path)
        except FileExistsError:
            pass  # another worker linked its key first: read theirs
        finally:
            os.unlink(temporary)
    if path.stat().st_mode & 0o077:
        raise KeyConfigurationError(
            f"the API key file {path} is readable by others: chmod 600 it (or make a new one)"
        )
    try:
        key = base64.b64decode(path.read_bytes().strip(), validate=True)
    except ValueError:
        raise KeyConfigurationError(f"the API key file {path} is not base64") from None
    if len(key) < MIN_KEY_BYTES:
        raise KeyConfigurationError(
            f"the API key file {path} holds {len(key)} bytes, fewer than {MIN_KEY_BYTES}"
        )
    return key


@dataclass(frozen=True)
class Claims:
    user_id: int
    version: int
    type: str
    issued_at: int
    jti: str | None = None
    family: str | None = None


@dataclass(frozen=True)
class TokenPair:
    access: str
    refresh: str


def _now() -> datetime:
    return datetime.now(UTC)


class Tokens:
    """Signs and checks tokens with one key; refresh bookkeeping through a connection."""

    def __init__(self, key: bytes, *, access_minutes: int, refresh_days: int) -> None:
        if len(key) < MIN_KEY_BYTES:
            raise KeyConfigurationError(f"the signing key must be at least {MIN_KEY_BYTES} bytes")
        self._key = key
        self.access_lifetime = timedelta(minutes=access_minutes)
        self.refresh_lifetime = timedelta(days=refresh_days)
        # token -> (claims, first and last second it is valid): see `access_claims`.
        self._verified: dict[str, tuple[Claims, int, int]] = {}
        self._verified_lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> Tokens:
        return cls(
            load_signing_key(settings),
            access_minutes=settings.api_access_token_minutes,
            refresh_days=settings.api_refresh_token_days,
        )

    # --- signing and checking -----------------------------------------------------------

    def _sign(self, claims: dict[str, Any], lifetime: timedelta, now: datetime) -> str:
        payload = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "iat": now,
            "nbf": now,
            "exp": now + lifetime,
            **claims,
        }
        headers = {"typ": HEADER_TYPES[claims["typ"]]}
        return jwt.encode(payload, self._key, algorithm=ALGORITHM, headers=headers)

    def access_token(self, user_id: int, version: int, now: datetime | None = None) -> str:
        claims = {"sub": str(user_id), "typ": ACCESS, "ver": version}
        return self._sign(claims, self.access_lifetime, now or _now())

    def access_claims(self, token: str) -> Claims:
        """`decode(token, ACCESS)`, remembered for the token's lifetime.

        A client sends the same access token with every request for minutes; its signature
        and claims cannot change, only the clock moves past `exp`. So a token verified once
        is found by its exact text until then (the times are checked on every use, with the
        same leeway as PyJWT's). Only verified tokens are kept, at most `VERIFIED_TOKENS`
        (the oldest go first). What the token is worth is still the caller's check: its
        user, active, with the same `credentials_version` (`api.principal`).
        """
        kept = self._verified.get(token)
        if kept is not None:
            claims, valid_from, valid_until = kept
            if valid_from <= time.time() < valid_until:
                return claims
        claims, payload = self._decode(token, ACCESS)
        valid_from = max(int(payload["nbf"]), int(payload["iat"])) - LEEWAY_SECONDS
        with self._verified_lock:
            while len(self._verified) >= VERIFIED_TOKENS:
                del self._verified[next(iter(self._verified))]
            self._verified[token] = (claims, valid_from, int(payload["exp"]) + LEEWAY_SECONDS)
        return claims

    def decode(self, token: str, expected_type: str) -> Claims:
        """The claims of a valid token of `expected_type`; TokenError otherwise."""
        return self._decode(token, expected_type)[0]

    def _decode(self, token: str, expected_type: str) -> tuple[Claims, dict[str, Any]]:
        if not isinstance(token, str) or token.count(".") != 2:
            raise TokenError("malformed token")
        try:
            decoded = jwt.decode_complete(
                token,
                self._key,
                algorithms=[ALGORITHM],
                audience=AUDIENCE,
                issuer=ISSUER,
                leeway=LEEWAY_SECONDS,
                options={"require": REQUIRED_CLAIMS, "strict_aud": True},
            )
        except jwt.ExpiredSignatureError:
            raise TokenError("the token has expired") from None
        except jwt.InvalidTokenError:
            raise TokenError("invalid token") from None
        payload = decoded["payload"]
        # PyJWT also takes "exp": "1999999999" (a numeric string): RFC 7519 says a number.
        for claim in TIME_CLAIMS:
            value = payload[claim]
            if not isinstance(value, int | float) or isinstance(value, bool):
                raise TokenError("invalid token")
        header_type = decoded["header"].get("typ")
        if payload.get("typ") != expected_type or not (
            isinstance(header_type, str) and header_type.lower() == HEADER_TYPES[expected_type]
        ):
            raise TokenError(f"not {KIND_NAMES[expected_type]}")
        subject, version = payload["sub"], payload["ver"]
        # An id in range before any query: 2**63 overflows SQLite, 2**31 PostgreSQL's integer.
        if not (isinstance(subject, str) and TOKEN_SUBJECT.fullmatch(subject)):
            raise TokenError("invalid token")
        if not 1 <= int(subject) <= MAX_ID:
            raise TokenError("invalid token")
        if not isinstance(version, int) or isinstance(version, bool):
            raise TokenError("invalid token")
        jti, family = payload.get("jti"), payload.get("fam")
        if expected_type == REFRESH and not (
            isinstance(jti, str)
            and isinstance(family, str)
            and TOKEN_ID.fullmatch(jti)
            and TOKEN_ID.fullmatch(family)
        ):
            raise TokenError("invalid token")
        claims = Claims(int(subject), version, expected_type, int(payload["iat"]), jti, family)
        return claims, payload

    # --- refresh tokens -----------------------------------------------------------------

    def issue(
        self,
        connection: Connection,
        user_id: int,
        version: int,
        family: str | None = None,
    ) -> TokenPair:
        """A new access token and a new refresh token (a new family unless `family`)."""
        now = _now()
        jti = uuid.uuid4().hex
        family = family or uuid.uuid4().hex
        # Expired rows guard nothing (their tokens fail on `exp`): keep the table small.
        connection.execute(
            delete(refresh_tokens).where(
                and_(refresh_tokens.c.user_id == user_id, refresh_tokens.c.expires_at < now)
            )
        )
        connection.execute(
            insert(refresh_tokens).values(
                jti=jti,
                family_id=family,
                user_id=user_id,
                issued_at=now,
                expires_at=now + self.refresh_lifetime,
            )
        )
        claims = {"sub": str(user_id), "typ": REFRESH, "ver": version, "jti": jti, "fam": family}
        return TokenPair(
            access=self.access_token(user_id, version, now),
            refresh=self._sign(claims, self.refresh_lifetime, now),
        )

    def rotate(self, connection: Connection, token: str) -> TokenPair | None:
        """Use a refresh token once: the next pair, or None when refused.

        A token already used or revoked revokes its whole family; the caller must commit
        that (it is the point of reuse detection), so this returns None instead of raising.
        """
        claims = self.decode(token, REFRESH)
        row = connection.execute(
            select(
                refresh_tokens.c.family_id,
                refresh_tokens.c.used_at,
                refresh_tokens.c.revoked_at,
                users.c.is_active,
                users.c.credentials_version,
            )
            .join(users, users.c.id == refresh_tokens.c.user_id)
            .where(
                and_(refresh_tokens.c.jti == claims.jti, refresh_tokens.c.user_id == claims.user_id)
            )
        ).first()
        if row is None or row.family_id != claims.family:
            return None
        if row.used_at is not None or row.revoked_at is not None:
            self.revoke_family(connection, row.family_id)
            return None
        if not row.is_active or row.credentials_version != claims.version:
            self.revoke_family(connection, row.family_id)
            return None
        # Conditional, so two concurrent uses of one token cannot both succeed.
        marked = connection.execute(
            update(refresh_tokens)
            .where(and_(refresh_tokens.c.jti == claims.jti, refresh_tokens.c.used_at.is_(None)))
            .values(used_at=_now())
        )
        if marked.rowcount != 1:
            self.revoke_family(connection, row.family_id)
            return None
        return self.issue(connection, claims.user_id, claims.version, family=row.family_id)

    def revoke(self, connection: Connection, token: str) -> None:
        """Log out: revoke the refresh token's whole family (every token rotated from it).

        Idempotent: a family already revoked, or a token already used, is revoked again
        (a no-op). The access tokens issued with it live on until they expire (minutes).
        """
        claims = self.decode(token, REFRESH)
        family = connection.execute(
            select(refresh_tokens.c.family_id).where(
                and_(refresh_tokens.c.jti == claims.jti, refresh_tokens.c.user_id == claims.user_id)
            )
        ).scalar()
        if family is not None and family == claims.family:
            self.revoke_family(connection, family)

    @staticmethod
    def revoke_family(connection: Connection, family: str) -> None:
        connection.execute(
            update(refresh_tokens)
            .where(
                and_(refresh_tokens.c.family_id == family, refresh_tokens.c.revoked_at.is_(None))
            )
            .values(revoked_at=_now())
        )

    # --- fake salts ---------------------------------------------------------------------

    def fake_salt(self, username: str, purpose: str) -> str:
        """A stable 16-byte hex salt for an unknown `username` (looks like a real one)."""
        message = f"wealth-pipeline fake salt|{purpose}|{username}".encode()
        digest = hmac.new(self._key, message, hashlib.sha256).digest()
        return digest[:16].hex()
