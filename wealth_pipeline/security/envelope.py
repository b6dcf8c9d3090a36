"""Sealed blobs: AES-256-GCM with a fresh 96-bit nonce and owner-binding associated data.

Layout of a blob (version 1)::

    version (1 byte, 0x01) | nonce (12 bytes) | ciphertext | GCM tag (16 bytes)

The version byte is authenticated too (it is prefixed to the associated data), so every
part of a blob is covered by the tag. The associated data (`associated_data()`) names the
owner and the purpose, e.g. ``wealth-pipeline|v1|user=7|account=12|purpose=credentials``:
a blob copied to another row, account, user or purpose fails to open.
"""

from __future__ import annotations

import os
import re

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from wealth_pipeline.security.errors import VaultError

VERSION = 1
NONCE_BYTES = 12
TAG_BYTES = 16
KEY_BYTES = 32
HEADER_BYTES = 1 + NONCE_BYTES
AAD_PREFIX = b"wealth-pipeline|v1"
PURPOSE_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


def _positive_id(name: str, value: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise VaultError(f"{name} must be a positive whole number, not {value!r}")
    return value


def check_purpose(purpose: str) -> str:
    if not isinstance(purpose, str) or not PURPOSE_PATTERN.match(purpose):
        raise VaultError(
            f"purpose {purpose!r} must be 1-40 characters of a-z, 0-9 and _, starting with a letter"
        )
    return purpose


def associated_data(user_id: int, account_id: int | None, purpose: str) -> bytes:
    """``wealth-pipeline|v1|user=<id>|account=<id or ->|purpose=<purpose>`` as bytes."""
    user = _positive_id("user_id", user_id)
    account = "-" if account_id is None else str(_positive_id("account_id", account_id))
    return b"%s|user=%d|account=%s|purpose=%s" % (
        AAD_PREFIX,
        user,
        account.encode(),
        check_purpose(purpose).encode(),
    )


def _aesgcm(key: bytes) -> AESGCM:
    if not isinstance(key, bytes | bytearray) or len(key) != KEY_BYTES:
        raise VaultError("the key must be 32 bytes (AES-256)")
    return AESGCM(bytes(key))


def seal_blob(key: bytes, plaintext: bytes, aad: bytes) -> bytes:
    """Encrypt and authenticate `plaintext` under `key`, bound to `aad`."""
    if not isinstance(plaintext, bytes | bytearray):
        raise VaultError("only bytes can be sealed")
    version = bytes([VERSION])
    nonce = os.urandom(NONCE_BYTES)
    return version + nonce + _aesgcm(key).encrypt(nonce, bytes(plaintext), version + aad)


def open_blob(key: bytes, blob: bytes, aad: bytes, *, what: str = "credential blob") -> bytes:
    """Decrypt a `seal_blob` result; any change to it, its key or its `aad` raises VaultError.

    `what` names the blob in the error message ("credential blob was tampered with or
    belongs to another account").
    """
    if not isinstance(blob, bytes | bytearray | memoryview):
        raise VaultError(f"{what} is missing")
    blob = bytes(blob)
    if len(blob) < HEADER_BYTES + TAG_BYTES:
        raise VaultError(f"{what} is truncated: not a sealed blob")
    if blob[0] != VERSION:
        raise VaultError(
            f"{what} has unknown envelope version {blob[0]}: it was tampered with "
            "or written by a newer wealth-pipeline"
        )
    aesgcm = _aesgcm(key)
    nonce, ciphertext = blob[1:HEADER_BYTES], blob[HEADER_BYTES:]
    try:
        return aesgcm.decrypt(nonce, ciphertext, blob[:1] + aad)
    except InvalidTag:
        raise VaultError(f"{what} was tampered with or belongs to another account") from None
