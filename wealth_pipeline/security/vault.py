"""The credential vault: users, their wrapped data keys, and sealed credentials and state.

Key hierarchy (see docs in `kdf` and `envelope`):

    password --Argon2id(kek_salt)--> KEK --AES-GCM wraps--> data key (DEK, random 256 bit)
    password --Argon2id(auth_salt)-> auth_hash --Argon2id PHC hash--> users.auth_hash
    DEK --AES-GCM--> credentials and bank session state, bound to user, account and purpose

The database holds only the wrapped DEK, salts, parameters and the hash of `auth_hash`:
on its own it decrypts nothing. A password change re-wraps the DEK (credentials are not
re-encrypted). Unattended sync seals the DEK to the pipeline's sync key instead
(`sync_keys`), opened only by the worker (`worker`).

Functions taking a `connection` run inside the caller's transaction (`engine.begin()`):
they never commit. When one raises, it has written nothing (roll back for the rest).
"""

from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from wealth_pipeline.profiles import (
    ProfileError,
    check_base_currency,
    check_email,
    check_username,
)
from wealth_pipeline.security.envelope import (
    KEY_BYTES,
    associated_data,
    check_purpose,
    open_blob,
    seal_blob,
)
from wealth_pipeline.security.errors import VaultError
from wealth_pipeline.security.kdf import (
    KdfParams,
    burn_verification,
    decode_salt,
    derive_client_keys,
    derive_kek,
    encode_salt,
    hash_auth_hash,
    new_salt,
    verify_auth_hash,
)
from wealth_pipeline.warehouse.schema import profiles, refresh_tokens, users

__all__ = [
    "PURPOSE_CREDENTIALS",
    "PURPOSE_DATA_KEY",
    "RESERVED_PURPOSES",
    "KdfParams",
    "LoginParameters",
    "Unlocked",
    "VaultError",
    "change_password",
    "create_user",
    "decrypt_credentials",
    "decrypt_state",
    "encrypt_credentials",
    "encrypt_state",
    "login_parameters",
    "unlock",
    "verify_login",
]

PURPOSE_CREDENTIALS = "credentials"
PURPOSE_DATA_KEY = "data_key"
PURPOSE_SEALED_DATA_KEY = "sealed_data_key"
# Purposes the state functions refuse, so session state can never pass for credentials.
RESERVED_PURPOSES = frozenset({PURPOSE_CREDENTIALS, PURPOSE_DATA_KEY, PURPOSE_SEALED_DATA_KEY})
WRONG_LOGIN = "wrong username or password"


@dataclass(frozen=True)
class Unlocked:
    """A user's data key in memory: what `unlock` (password) or the worker (sync key) gives.

    Pass it to `encrypt_*` / `decrypt_*`; never store or log it (its repr hides the key).
    """

    user_id: int
    username: str
    data_key: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.data_key, bytes) or len(self.data_key) != KEY_BYTES:
            raise VaultError("a data key is 32 bytes")


@dataclass(frozen=True)
class LoginParameters:
    """What a client needs before deriving its keys: the user's salts (hex) and KDF params."""

    user_id: int
    auth_salt: str
    kek_salt: str
    kdf_params: KdfParams


def _check_password(password: str) -> str:
    if not isinstance(password, str) or not password:
        raise VaultError("the password must not be empty")
    return password


def _user_row(connection: Connection, username: str):
    return connection.execute(
        select(
            users.c.id,
            users.c.username,
            users.c.is_active,
            users.c.auth_hash,
            users.c.auth_salt,
            users.c.kek_salt,
            users.c.kdf_params,
            users.c.wrapped_data_key,
        ).where(users.c.username == username)
    ).first()


def _wrap_with_password(
    user_id: int, password: str, data_key: bytes, params: KdfParams
) -> dict[str, Any]:
    """New salts, new KEK and auth hash, and the DEK wrapped: the `users` columns to write."""
    kek_salt, auth_salt = new_salt(), new_salt()
    while auth_salt == kek_salt:  # pragma: no cover - 2**-128
        auth_salt = new_salt()
    keys = derive_client_keys(password, kek_salt=kek_salt, auth_salt=auth_salt, params=params)
    wrapped = seal_blob(keys.kek, data_key, associated_data(user_id, None, PURPOSE_DATA_KEY))
    return {
        "auth_hash": hash_auth_hash(keys.auth_hash, params),
        "auth_salt": encode_salt(auth_salt),
        "kek_salt": encode_salt(kek_salt),
        "kdf_params": params.to_json(),
        "wrapped_data_key": wrapped,
    }


def create_user(
    connection: Connection,
    username: str,
    password: str,
    *,
    email: str | None = None,
    base_currency: str = "EUR",
    params: KdfParams | None = None,
) -> int:
    """Create a user with a fresh random data key wrapped by their password; its id.

    `params` default to the configured Argon2id parameters (`KdfParams.from_settings()`).
    """
    try:
        check_username(username)
        email = None if email is None else check_email(email)
        base_currency = check_base_currency(base_currency)
    except ProfileError as exc:
        raise VaultError(str(exc)) from None
    _check_password(password)
    params = params or KdfParams.from_settings()
    if connection.execute(select(users.c.id).where(users.c.username == username)).first():
        raise VaultError(f"a user named {username!r} already exists")

    data_key = os.urandom(KEY_BYTES)
    try:
        with connection.begin_nested():
            user_id = connection.execute(
                insert(users).values(username=username, email=email)
            ).inserted_primary_key[0]
    except IntegrityError:
        raise VaultError(f"a user named {username!r} already exists") from None
    connection.execute(
        update(users)
        .where(users.c.id == user_id)
        .values(**_wrap_with_password(user_id, password, data_key, params))
    )
    connection.execute(insert(profiles).values(user_id=user_id, base_currency=base_currency))
    return int(user_id)


def login_parameters(connection: Connection, username: str) -> LoginParameters | None:
    """The salts and KDF parameters a client needs to derive its keys; None if unknown.

    (An API answering this for unknown users must serve stable fake salts instead of None.)
    """
    row = _user_row(connection, username)
    if row is None or not row.auth_salt or not row.kek_salt:
        return None
    return LoginParameters(
        user_id=row.id,
        auth_salt=row.auth_salt,
        kek_salt=row.kek_salt,
        kdf_params=KdfParams.from_json(row.kdf_params),
    )


def common_kdf_params(connection: Connection, default: KdfParams) -> KdfParams:
    """The Argon2id parameters most users have stored (ties: the first in a fixed order);
    `default` while no user has any. What the API serves for names that do not exist."""
    counts = Counter(
        KdfParams.from_json(stored)
        for stored in connection.execute(
            select(users.c.kdf_params).where(users.c.kdf_params.is_not(None))
        ).scalars()
    )
    if not counts:
        return default
    return min(counts, key=lambda params: (-counts[params], json.dumps(params.to_json())))


def verify_login(connection: Connection, username: str, auth_hash: bytes) -> int | None:
    """Server side: the user id if `auth_hash` is this active user's, else None.

    Compares with Argon2id's constant-time verification; an unknown or disabled user costs
    as much as a wrong hash, so timing does not tell which usernames exist.
    """
    row = _user_row(connection, username)
    if row is None or not row.is_active or not row.auth_hash:
        burn_verification(KdfParams.from_settings())
        return None
    if not isinstance(auth_hash, bytes | bytearray) or not verify_auth_hash(
        row.auth_hash, bytes(auth_hash)
    ):
        return None
    return int(row.id)


def unlock(connection: Connection, username: str, password: str) -> Unlocked:
    """Derive the KEK from `password` with the stored parameters and unwrap the data key.

    Raises VaultError("wrong username or password") for an unknown user or a wrong
    password; changes nothing either way.
    """
    _check_password(password)
    row = _user_row(connection, username)
    if row is None or row.wrapped_data_key is None:
        # Spend one derivation anyway: an unknown name takes as long as a wrong password.
        derive_kek(password, new_salt(), KdfParams.from_settings())
        raise VaultError(WRONG_LOGIN)
    params = KdfParams.from_json(row.kdf_params)
    kek = derive_kek(password, decode_salt(row.kek_salt), params)
    try:
        data_key = open_blob(
            kek,
            row.wrapped_data_key,
            associated_data(row.id, None, PURPOSE_DATA_KEY),
            what="wrapped data key",
        )
    except VaultError:
        raise VaultError(WRONG_LOGIN) from None
    if not row.is_active:
        raise VaultError(f"user {username!r} is disabled")
    return Unlocked(user_id=int(row.id), username=row.username, data_key=data_key)


def change_password(
    connection: Connection,
    username: str,
    old_password: str,
    new_password: str,
    *,
    params: KdfParams | None = None,
) -> None:
    """Re-wrap the data key under a KEK from `new_password` (new salts, current parameters).

    Credentials stay as they are and open with the new password only. Bumps
    `users.credentials_version` and revokes the user's refresh tokens, so tokens issued
    before the change are refused. A sealed copy for auto-sync (if any) stays valid: it
    holds the same data key.
    """
    unlocked = unlock(connection, username, old_password)
    _check_password(new_password)
    params = params or KdfParams.from_settings()
    values = _wrap_with_password(unlocked.user_id, new_password, unlocked.data_key, params)
    connection.execute(
        update(users)
        .where(users.c.id == unlocked.user_id)
        .values(**values, credentials_version=users.c.credentials_version + 1)
    )
    connection.execute(
        update(refresh_tokens)
        .where(refresh_tokens.c.user_id == unlocked.user_id, refresh_tokens.c.revoked_at.is_(None))
        .values(revoked_at=func.now())
    )


def _account_aad(unlocked: Unlocked, account_id: int, purpose: str) -> bytes:
    if not isinstance(unlocked, Unlocked):
        raise VaultError("an Unlocked user is needed (from vault.unlock or the sync worker)")
    return associated_data(unlocked.user_id, account_id, purpose)


def encrypt_credentials(unlocked: Unlocked, account_id: int, credentials: dict) -> bytes:
    """Seal an account's credentials (a JSON-able dict) for `financial_accounts.encrypted_credentials`."""
    if not isinstance(credentials, dict):
        raise VaultError("credentials must be a dict")
    try:
        plaintext = json.dumps(credentials, sort_keys=True, separators=(",", ":"))
    except (TypeError, ValueError):
        raise VaultError(
            "credentials must be JSON-serialisable (strings, numbers, bools)"
        ) from None
    aad = _account_aad(unlocked, account_id, PURPOSE_CREDENTIALS)
    return seal_blob(unlocked.data_key, plaintext.encode("utf-8"), aad)


def decrypt_credentials(unlocked: Unlocked, account_id: int, blob: bytes) -> dict:
    """Open `encrypt_credentials` output for the same user and account."""
    aad = _account_aad(unlocked, account_id, PURPOSE_CREDENTIALS)
    plaintext = open_blob(unlocked.data_key, blob, aad, what="credential blob")
    return json.loads(plaintext.decode("utf-8"))


def _state_purpose(purpose: str) -> str:
    check_purpose(purpose)
    if purpose in RESERVED_PURPOSES:
        raise VaultError(f"purpose {purpose!r} is reserved; bank session state needs its own")
    return purpose


def encrypt_state(unlocked: Unlocked, account_id: int, purpose: str, data: bytes) -> bytes:
    """Seal opaque bank session state for `account_sessions.encrypted_state`.

    `purpose` is the `account_sessions.purpose` of the row (e.g. "fints_state",
    "tan_dialog"): 1-40 characters of a-z, 0-9, _; not "credentials" or "data_key". The
    blob opens only with the same user, account and purpose. `data` is bytes; serialise
    structured state (JSON, FinTS `deconstruct()` output) before sealing.
    """
    aad = _account_aad(unlocked, account_id, _state_purpose(purpose))
    return seal_blob(unlocked.data_key, data, aad)


def decrypt_state(unlocked: Unlocked, account_id: int, purpose: str, blob: bytes) -> bytes:
    """Open `encrypt_state` output for the same user, account and purpose."""
    aad = _account_aad(unlocked, account_id, _state_purpose(purpose))
    return open_blob(unlocked.data_key, blob, aad, what=f"{purpose} state blob")
