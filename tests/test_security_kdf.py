"""Argon2id key derivation: secure defaults, explicit lowering, stored parameters."""

import pytest

from tests.support.factories import CHEAP
from wealth_pipeline.security.errors import VaultError
from wealth_pipeline.security.kdf import (
    KdfParams,
    derive_auth_hash,
    derive_client_keys,
    derive_kek,
    hash_auth_hash,
    new_salt,
    verify_auth_hash,
)
from wealth_pipeline.settings import load_settings


def test_defaults_are_rfc_9106_second_recommendation(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("TIME_COST", "MEMORY_KIB", "PARALLELISM"):
        monkeypatch.delenv(f"WEALTH_ARGON2_{name}", raising=False)
    params = KdfParams()
    assert (params.time_cost, params.memory_kib, params.parallelism, params.hash_len) == (
        3,
        65536,
        4,
        32,
    )
    assert KdfParams.from_settings() == params
    settings = load_settings()
    assert (settings.argon2_time_cost, settings.argon2_memory_kib) == (3, 65536)
    assert settings.argon2_parallelism == 4


def test_lowered_only_by_explicit_configuration(cheap_argon2: KdfParams) -> None:
    assert KdfParams.from_settings() == CHEAP == cheap_argon2


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("WEALTH_ARGON2_TIME_COST", "0", "at least 1"),
        ("WEALTH_ARGON2_MEMORY_KIB", "lots", "whole number"),
        ("WEALTH_ARGON2_MEMORY_KIB", "16", "at least 32"),  # 8 KiB per lane, 4 lanes
    ],
)
def test_bad_configuration_is_refused(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, message: str
) -> None:
    for other in ("TIME_COST", "MEMORY_KIB", "PARALLELISM"):  # the defaults: 4 lanes
        monkeypatch.delenv(f"WEALTH_ARGON2_{other}", raising=False)
    monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match=message):
        load_settings()


def test_params_round_trip_through_json() -> None:
    params = KdfParams(time_cost=2, memory_kib=2048, parallelism=2)
    stored = params.to_json()
    assert stored["algorithm"] == "argon2id" and stored["version"] == 19
    assert KdfParams.from_json(stored) == params
    import json

    assert KdfParams.from_json(json.dumps(stored)) == params
    with pytest.raises(VaultError, match="unsupported"):
        KdfParams.from_json({**stored, "algorithm": "scrypt"})
    with pytest.raises(VaultError, match="lack 'time_cost'"):
        KdfParams.from_json({"memory_kib": 1024, "parallelism": 1})
    with pytest.raises(VaultError):
        KdfParams(time_cost=1, memory_kib=4, parallelism=1)


def test_kek_and_auth_hash_are_independent_32_byte_keys() -> None:
    kek_salt, auth_salt = new_salt(), new_salt()
    keys = derive_client_keys("pässword", kek_salt=kek_salt, auth_salt=auth_salt, params=CHEAP)
    assert len(keys.kek) == len(keys.auth_hash) == 32
    assert keys.kek != keys.auth_hash
    assert keys.kek == derive_kek("pässword", kek_salt, CHEAP)
    assert keys.auth_hash == derive_auth_hash("pässword", auth_salt, CHEAP)
    assert repr(keys) == "ClientKeys()"
    # Other parameters, salt or password: other keys. The same password NFC-normalised: same.
    assert derive_kek("pässword", kek_salt, KdfParams(1, 2048, 1)) != keys.kek
    assert derive_kek("pässword", new_salt(), CHEAP) != keys.kek
    assert derive_kek("passw0rd", kek_salt, CHEAP) != keys.kek
    assert derive_kek("pa\u0308ssword", kek_salt, CHEAP) == keys.kek
    with pytest.raises(VaultError, match="must differ"):
        derive_client_keys("x", kek_salt=kek_salt, auth_salt=kek_salt, params=CHEAP)
    with pytest.raises(VaultError, match="empty"):
        derive_kek("", kek_salt, CHEAP)


def test_server_stores_an_argon2id_hash_of_the_auth_hash() -> None:
    auth_hash = derive_auth_hash("pw", new_salt(), CHEAP)
    stored = hash_auth_hash(auth_hash, CHEAP)
    assert stored.startswith("$argon2id$v=19$m=1024,t=1,p=1$")
    assert auth_hash.hex() not in stored
    assert verify_auth_hash(stored, auth_hash)
    assert not verify_auth_hash(stored, bytes(32))
    assert not verify_auth_hash(None, auth_hash)
    assert not verify_auth_hash("not a hash", auth_hash)
