"""The sync key pair and sealed data keys: file modes, sealing, and the worker's unlock."""

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from sqlalchemy import select

from tests.support import factories
from tests.support.security import CREDENTIALS
from wealth_pipeline.security.errors import VaultError
from wealth_pipeline.security.sync_keys import (
    disable_auto_sync,
    enable_auto_sync,
    generate_key_pair,
    key_id,
    load_private_key,
    load_public_key,
    open_sealed_data_key,
    seal_data_key,
)
from wealth_pipeline.security.vault import (
    create_user,
    decrypt_credentials,
    encrypt_credentials,
    unlock,
)
from wealth_pipeline.security.worker import unlock_for_sync
from wealth_pipeline.warehouse.engine import get_engine
from wealth_pipeline.warehouse.schema import profiles, sealed_data_keys

pytestmark = pytest.mark.usefixtures("cheap_argon2")

DATA_KEY = os.urandom(32)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_key_files_are_private_and_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "sync_key.pem"
    old_umask = os.umask(0)  # even a permissive umask yields 0600 / 0700
    try:
        info = generate_key_pair(path)
    finally:
        os.umask(old_umask)
    assert info.private_key_path == path and info.public_key_path == tmp_path / "keys/sync_key.pub"
    assert mode(path) == 0o600 and mode(path.parent) == 0o700
    assert path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    assert b"PRIVATE" not in info.public_key_path.read_bytes()
    assert (
        key_id(load_public_key(path)) == info.key_id == key_id(load_private_key(path).public_key())
    )
    assert len(info.key_id) == 64
    before = path.read_bytes()
    with pytest.raises(VaultError, match=r"already exists.*--force"):
        generate_key_pair(path)
    assert path.read_bytes() == before
    replaced = generate_key_pair(path, force=True)
    assert replaced.key_id != info.key_id and mode(path) == 0o600
    assert sorted(p.name for p in path.parent.iterdir()) == ["sync_key.pem", "sync_key.pub"]


def test_missing_keys_say_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(VaultError, match="run `wealth keys init`"):
        load_public_key(tmp_path / "sync_key.pem")
    with pytest.raises(VaultError, match="run `wealth keys init`"):
        load_private_key(tmp_path / "sync_key.pem")


def test_seal_and_open() -> None:
    private_key = X25519PrivateKey.generate()
    sealed = seal_data_key(DATA_KEY, private_key.public_key(), 5)
    assert DATA_KEY not in sealed and len(sealed) == 1 + 32 + 12 + 32 + 16
    assert sealed != seal_data_key(DATA_KEY, private_key.public_key(), 5)  # ephemeral keys
    assert open_sealed_data_key(sealed, private_key, 5) == DATA_KEY


def test_opening_fails_with_another_key_user_or_change() -> None:
    private_key = X25519PrivateKey.generate()
    sealed = seal_data_key(DATA_KEY, private_key.public_key(), 5)
    with pytest.raises(VaultError, match="another sync key"):
        open_sealed_data_key(sealed, X25519PrivateKey.generate(), 5)
    with pytest.raises(VaultError, match="for another user"):
        open_sealed_data_key(sealed, private_key, 6)
    for index in (1, 40, -1):
        tampered = bytearray(sealed)
        tampered[index] ^= 1
        with pytest.raises(VaultError, match="tampered with"):
            open_sealed_data_key(bytes(tampered), private_key, 5)
    with pytest.raises(VaultError, match="unknown version"):
        open_sealed_data_key(b"\x02" + sealed[1:], private_key, 5)
    with pytest.raises(VaultError, match="truncated"):
        open_sealed_data_key(sealed[:-1], private_key, 5)


def test_auto_sync_lets_the_worker_decrypt_credentials(warehouse_url: str, tmp_path: Path) -> None:
    info = generate_key_pair(tmp_path / "keys" / "sync_key.pem")
    engine = get_engine(warehouse_url)
    with engine.begin() as connection:
        alice = create_user(connection, "alice", "alice password")
        bob = create_user(connection, "bob", "bob password")
        giro = factories.account(connection, alice, "dkb", "Giro")
        client = unlock(connection, "alice", "alice password")
        blob = encrypt_credentials(client, giro, CREDENTIALS)
        with pytest.raises(VaultError, match="auto-sync is off"):
            unlock_for_sync(connection, alice, info.private_key_path)
        assert enable_auto_sync(connection, client, load_public_key(info.public_key_path)) == (
            info.key_id
        )
        enable_auto_sync(connection, client, load_public_key(info.public_key_path))  # again: ok
    with engine.begin() as connection:
        row = connection.execute(select(sealed_data_keys)).one()
        assert row.user_id == alice and row.sync_key_id == info.key_id
        assert connection.execute(
            select(profiles.c.auto_sync_enabled).where(profiles.c.user_id == alice)
        ).scalar()
        worker = unlock_for_sync(connection, alice, info.private_key_path)
        assert worker == client
        assert decrypt_credentials(worker, giro, blob) == CREDENTIALS
        # Without the key file, with another key, or for another user: nothing opens.
        with pytest.raises(VaultError, match="no sync private key"):
            unlock_for_sync(connection, alice, tmp_path / "elsewhere.pem")
        with pytest.raises(VaultError, match="auto-sync is off for 'bob'"):
            unlock_for_sync(connection, bob, info.private_key_path)
        with pytest.raises(VaultError, match="no user with id"):
            unlock_for_sync(connection, 999_999, info.private_key_path)
        # Alice's sealed key copied to bob's row (with the flag set) does not open either.
        connection.execute(
            sealed_data_keys.insert().values(
                user_id=bob, sync_key_id=row.sync_key_id, sealed_key=row.sealed_key
            )
        )
        connection.execute(
            profiles.update().where(profiles.c.user_id == bob).values(auto_sync_enabled=True)
        )
        with pytest.raises(VaultError, match="for another user"):
            unlock_for_sync(connection, bob, info.private_key_path)
    rotated = generate_key_pair(info.private_key_path, force=True)
    with engine.begin() as connection:
        with pytest.raises(VaultError, match=r"sealed to sync key .* users set alice --auto-sync"):
            unlock_for_sync(connection, alice, rotated.private_key_path)
        assert disable_auto_sync(connection, alice) is True
        assert disable_auto_sync(connection, alice) is False
        assert (
            connection.execute(
                select(sealed_data_keys.c.user_id).where(sealed_data_keys.c.user_id == alice)
            ).first()
            is None
        )
        with pytest.raises(VaultError, match="auto-sync is off"):
            unlock_for_sync(connection, alice, rotated.private_key_path)


def test_worker_module_is_separate_from_what_the_api_imports() -> None:
    code = (
        "import sys, wealth_pipeline.security.vault, wealth_pipeline.security.sync_keys;"
        "print('wealth_pipeline.security.worker' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"
