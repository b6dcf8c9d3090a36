"""AES-256-GCM envelopes: round trips, and every tampered or misplaced blob refused clearly."""

import os

import pytest

from wealth_pipeline.security.envelope import associated_data, open_blob, seal_blob
from wealth_pipeline.security.errors import VaultError

KEY = os.urandom(32)
AAD = associated_data(7, 12, "credentials")
SECRET = b'{"pin":"12345"}'


def test_associated_data_names_owner_and_purpose() -> None:
    assert AAD == b"wealth-pipeline|v1|user=7|account=12|purpose=credentials"
    assert associated_data(7, None, "data_key") == (
        b"wealth-pipeline|v1|user=7|account=-|purpose=data_key"
    )
    for bad in ((0, 1, "x"), (1, -2, "x"), (True, 1, "x"), (1, 1, "Bad|purpose"), (1, 1, "")):
        with pytest.raises(VaultError):
            associated_data(*bad)


def test_round_trip_with_fresh_nonces() -> None:
    first, second = seal_blob(KEY, SECRET, AAD), seal_blob(KEY, SECRET, AAD)
    assert first[0] == 1 and len(first) == 1 + 12 + len(SECRET) + 16
    assert first[1:13] != second[1:13]  # a fresh 96-bit nonce each time
    assert SECRET not in first
    assert open_blob(KEY, first, AAD) == open_blob(KEY, second, AAD) == SECRET
    assert open_blob(KEY, seal_blob(KEY, b"", AAD), AAD) == b""


@pytest.mark.parametrize(
    ("part", "index"),
    [
        ("nonce", 1),
        ("nonce", 12),
        ("ciphertext", 13),
        ("ciphertext", -17),
        ("tag", -16),
        ("tag", -1),
    ],
)
def test_tampering_with_any_part_fails_clearly(part: str, index: int) -> None:
    blob = bytearray(seal_blob(KEY, SECRET, AAD))
    blob[index] ^= 0x01
    with pytest.raises(VaultError) as error:
        open_blob(KEY, bytes(blob), AAD)
    assert str(error.value) == "credential blob was tampered with or belongs to another account"


def test_tampered_version_byte_fails_clearly() -> None:
    blob = bytearray(seal_blob(KEY, SECRET, AAD))
    blob[0] = 2
    with pytest.raises(VaultError, match="unknown envelope version 2"):
        open_blob(KEY, bytes(blob), AAD)


def test_truncated_or_missing_blob() -> None:
    blob = seal_blob(KEY, SECRET, AAD)
    with pytest.raises(VaultError, match="truncated"):
        open_blob(KEY, blob[:20], AAD)
    with pytest.raises(VaultError, match="missing"):
        open_blob(KEY, None, AAD)


@pytest.mark.parametrize(
    "other",
    [
        associated_data(7, 13, "credentials"),  # another account
        associated_data(8, 12, "credentials"),  # another user
        associated_data(7, 12, "fints_state"),  # another purpose
    ],
)
def test_blob_moved_elsewhere_fails(other: bytes) -> None:
    with pytest.raises(VaultError, match="belongs to another account"):
        open_blob(KEY, seal_blob(KEY, SECRET, AAD), other)


def test_wrong_key_fails_and_errors_never_show_secrets() -> None:
    blob = seal_blob(KEY, SECRET, AAD)
    with pytest.raises(VaultError) as error:
        open_blob(os.urandom(32), blob, AAD, what="wrapped data key")
    message = str(error.value)
    assert message.startswith("wrapped data key was tampered with")
    assert KEY.hex() not in message and "12345" not in message
    with pytest.raises(VaultError, match="32 bytes"):
        seal_blob(KEY[:16], SECRET, AAD)
