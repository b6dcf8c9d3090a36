"""Password-derived keys: Argon2id (RFC 9106), run by the client, never by the API.

From one password the client derives two independent 32-byte keys, each with its own
random per-user salt:

- the KEK (key-encryption key, `kek_salt`), which wraps the user's random data key;
- the `auth_hash` (`auth_salt`), which is what a client sends to log in. The server keeps
  only an Argon2id hash of it (`hash_auth_hash`), so neither the stored hash nor the
  `auth_hash` itself reveals the KEK.

Passwords are encoded as UTF-8 after Unicode NFC normalisation, so the same password typed
on different systems derives the same keys. The parameters used are stored beside the
wrapped key (`users.kdf_params`, `KdfParams.to_json()`), so they can be raised later;
unlocking always uses the stored ones.
"""

from __future__ import annotations

import functools
import json
import os
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from argon2.low_level import ARGON2_VERSION, Type, hash_secret_raw

from wealth_pipeline.security.errors import VaultError
from wealth_pipeline.settings import (
    ARGON2_MEMORY_KIB,
    ARGON2_PARALLELISM,
    ARGON2_TIME_COST,
    Settings,
    load_settings,
)

SALT_BYTES = 16
KEY_BYTES = 32
ALGORITHM = "argon2id"


@dataclass(frozen=True)
class KdfParams:
    """Argon2id cost parameters. The defaults are RFC 9106's second recommendation."""

    time_cost: int = ARGON2_TIME_COST
    memory_kib: int = ARGON2_MEMORY_KIB
    parallelism: int = ARGON2_PARALLELISM
    hash_len: int = KEY_BYTES

    def __post_init__(self) -> None:
        for name in ("time_cost", "memory_kib", "parallelism", "hash_len"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise VaultError(f"Argon2 {name} must be a positive whole number, not {value!r}")
        if self.memory_kib < 8 * self.parallelism:
            raise VaultError("Argon2 memory_kib must be at least 8 KiB per lane (parallelism)")
        if self.hash_len != KEY_BYTES:
            raise VaultError(f"Argon2 hash_len must be {KEY_BYTES} (256-bit keys)")

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> KdfParams:
        """The configured parameters (WEALTH_ARGON2_*), secure by default."""
        settings = settings or load_settings()
        return cls(
            time_cost=settings.argon2_time_cost,
            memory_kib=settings.argon2_memory_kib,
            parallelism=settings.argon2_parallelism,
        )

    def to_json(self) -> dict[str, Any]:
        """A JSON-able dict, as stored in `users.kdf_params`."""
        return {
            "algorithm": ALGORITHM,
            "version": ARGON2_VERSION,
            "time_cost": self.time_cost,
            "memory_kib": self.memory_kib,
            "parallelism": self.parallelism,
            "hash_len": self.hash_len,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any] | str | None) -> KdfParams:
        """Parse `to_json()` output (a dict, or its JSON text)."""
        if isinstance(data, str):
            try:
                data = json.loads(data)
            except ValueError:
                raise VaultError("stored key-derivation parameters are not valid JSON") from None
        if not isinstance(data, dict):
            raise VaultError("stored key-derivation parameters are missing")
        if (
            data.get("algorithm", ALGORITHM) != ALGORITHM
            or data.get("version", ARGON2_VERSION) != ARGON2_VERSION
        ):
            raise VaultError(
                f"unsupported key-derivation {data.get('algorithm')!r} "
                f"version {data.get('version')!r}"
            )
        try:
            return cls(
                time_cost=data["time_cost"],
                memory_kib=data["memory_kib"],
                parallelism=data["parallelism"],
                hash_len=data.get("hash_len", KEY_BYTES),
            )
        except KeyError as exc:
            raise VaultError(f"stored key-derivation parameters lack {exc.args[0]!r}") from None


@dataclass(frozen=True)
class ClientKeys:
    """What the client derives from a password: never stored, never logged."""

    kek: bytes = field(repr=False)
    auth_hash: bytes = field(repr=False)


def new_salt() -> bytes:
    return os.urandom(SALT_BYTES)


def encode_salt(salt: bytes) -> str:
    """Salts are stored and served as lowercase hex."""
    return salt.hex()


def decode_salt(value: str | None) -> bytes:
    try:
        salt = bytes.fromhex(value or "")
    except ValueError:
        raise VaultError("stored salt is not hex") from None
    if len(salt) < 8:
        raise VaultError("stored salt is missing or too short")
    return salt


def _password_bytes(password: str) -> bytes:
    if not isinstance(password, str) or not password:
        raise VaultError("the password must not be empty")
    return unicodedata.normalize("NFC", password).encode("utf-8")


def derive_key(password: str, salt: bytes, params: KdfParams) -> bytes:
    """Argon2id(password, salt) -> `params.hash_len` bytes."""
    return hash_secret_raw(
        secret=_password_bytes(password),
        salt=salt,
        time_cost=params.time_cost,
        memory_cost=params.memory_kib,
        parallelism=params.parallelism,
        hash_len=params.hash_len,
        type=Type.ID,
        version=ARGON2_VERSION,
    )


def derive_kek(password: str, kek_salt: bytes, params: KdfParams) -> bytes:
    return derive_key(password, kek_salt, params)


def derive_auth_hash(password: str, auth_salt: bytes, params: KdfParams) -> bytes:
    return derive_key(password, auth_salt, params)


def derive_client_keys(
    password: str, *, kek_salt: bytes, auth_salt: bytes, params: KdfParams
) -> ClientKeys:
    if kek_salt == auth_salt:
        raise VaultError("kek_salt and auth_salt must differ")
    return ClientKeys(
        kek=derive_kek(password, kek_salt, params),
        auth_hash=derive_auth_hash(password, auth_salt, params),
    )


def _hasher(params: KdfParams) -> PasswordHasher:
    return PasswordHasher(
        time_cost=params.time_cost,
        memory_cost=params.memory_kib,
        parallelism=params.parallelism,
        hash_len=KEY_BYTES,
        salt_len=SALT_BYTES,
        type=Type.ID,
    )


def hash_auth_hash(auth_hash: bytes, params: KdfParams) -> str:
    """Server side: the Argon2id PHC string stored in `users.auth_hash`."""
    return _hasher(params).hash(auth_hash)


def verify_auth_hash(stored: str | None, auth_hash: bytes) -> bool:
    """Server side: constant-time check of a client's `auth_hash` against the stored hash."""
    if not stored:
        return False
    try:
        # The PHC string carries its own parameters; the hasher's only matter for hashing.
        return PasswordHasher().verify(stored, auth_hash)
    except (VerificationError, InvalidHashError):
        return False


@functools.lru_cache(maxsize=4)
def _decoy_hash(params: KdfParams) -> str:
    return hash_auth_hash(os.urandom(KEY_BYTES), params)


def burn_verification(params: KdfParams) -> None:
    """Spend what a real check costs, so unknown users answer as slowly as wrong passwords."""
    verify_auth_hash(_decoy_hash(params), b"\0" * KEY_BYTES)
