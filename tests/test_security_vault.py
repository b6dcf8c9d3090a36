"""The vault on SQLite and PostgreSQL: users, unlock, password change, sealed credentials.

Also: a full dump of the database after storing credentials holds none of the secrets.
"""

import sqlite3

import pytest
from sqlalchemy import Connection, func, insert, inspect, select, text
from sqlalchemy.engine import make_url

from tests.support import factories
from tests.support.factories import CHEAP
from tests.support.security import CREDENTIALS
from wealth_pipeline.security import vault
from wealth_pipeline.security.kdf import KdfParams, decode_salt, derive_auth_hash, derive_kek
from wealth_pipeline.security.vault import (
    Unlocked,
    VaultError,
    change_password,
    create_user,
    decrypt_credentials,
    decrypt_state,
    encrypt_credentials,
    encrypt_state,
    login_parameters,
    unlock,
    verify_login,
)
from wealth_pipeline.warehouse.engine import get_engine
from wealth_pipeline.warehouse.schema import (
    financial_accounts,
    profiles,
    refresh_tokens,
    users,
)

pytestmark = pytest.mark.usefixtures("cheap_argon2")

PASSWORD = "correct horse battery staple"


def user_row(connection: Connection, username: str) -> dict:
    return dict(
        connection.execute(select(users).where(users.c.username == username)).one()._mapping
    )


def test_create_and_unlock(warehouse_url: str) -> None:
    engine = get_engine(warehouse_url)
    with engine.begin() as connection:
        user_id = create_user(
            connection, "alice", PASSWORD, email="a@example.com", base_currency="chf"
        )
    with engine.connect() as connection:
        row = user_row(connection, "alice")
        profile = connection.execute(select(profiles).where(profiles.c.user_id == user_id)).one()
        unlocked = unlock(connection, "alice", PASSWORD)
    assert profile.base_currency == "CHF" and not profile.auto_sync_enabled
    assert row["kdf_params"] == CHEAP.to_json()
    assert row["auth_salt"] != row["kek_salt"] and len(bytes.fromhex(row["auth_salt"])) == 16
    assert row["auth_hash"].startswith("$argon2id$") and row["credentials_version"] == 1
    assert row["wrapped_data_key"][0] == 1 and len(row["wrapped_data_key"]) == 1 + 12 + 32 + 16
    assert unlocked.user_id == user_id and unlocked.username == "alice"
    assert len(unlocked.data_key) == 32
    assert unlocked.data_key.hex() not in repr(unlocked) and "data_key" not in repr(unlocked)


def test_wrong_password_and_unknown_user_change_nothing(warehouse_url: str) -> None:
    engine = get_engine(warehouse_url)
    with engine.begin() as connection:
        create_user(connection, "alice", PASSWORD)
        before = user_row(connection, "alice")
    for username, password in (("alice", "wrong password"), ("mallory", PASSWORD)):
        with engine.begin() as connection, pytest.raises(VaultError) as error:
            unlock(connection, username, password)
        assert str(error.value) == "wrong username or password"
        with engine.begin() as connection, pytest.raises(VaultError, match="wrong username"):
            change_password(connection, username, password, "new password 1")
    with engine.connect() as connection:
        assert user_row(connection, "alice") == before


def test_duplicate_username_and_bad_input(warehouse_url: str) -> None:
    engine = get_engine(warehouse_url)
    with engine.begin() as connection:
        create_user(connection, "alice", PASSWORD)
    with engine.begin() as connection:
        with pytest.raises(VaultError, match="a user named 'alice' already exists"):
            create_user(connection, "alice", "other password")
        with pytest.raises(VaultError, match="base currency 'BGN'"):
            create_user(connection, "bob", PASSWORD, base_currency="BGN")
        with pytest.raises(VaultError, match="no spaces"):
            create_user(connection, "bob smith", PASSWORD)
        with pytest.raises(VaultError, match="empty"):
            create_user(connection, "bob", "")
        assert connection.execute(select(func.count()).select_from(users)).scalar() == 1


def test_unlock_uses_the_stored_parameters(warehouse_url: str) -> None:
    stronger = KdfParams(time_cost=2, memory_kib=2048, parallelism=2)
    engine = get_engine(warehouse_url)
    with engine.begin() as connection:
        create_user(connection, "alice", PASSWORD, params=stronger)
        assert user_row(connection, "alice")["kdf_params"] == stronger.to_json()
        assert unlock(connection, "alice", PASSWORD).username == "alice"  # settings say CHEAP
        params = login_parameters(connection, "alice")
    assert params is not None and params.kdf_params == stronger
    with engine.connect() as connection:
        assert login_parameters(connection, "nobody") is None


def test_verify_login_server_side(warehouse_url: str) -> None:
    engine = get_engine(warehouse_url)
    with engine.begin() as connection:
        user_id = create_user(connection, "alice", PASSWORD)
        params = login_parameters(connection, "alice")
        assert params is not None
        auth_hash = derive_auth_hash(PASSWORD, decode_salt(params.auth_salt), params.kdf_params)
        kek = derive_kek(PASSWORD, decode_salt(params.kek_salt), params.kdf_params)
        assert verify_login(connection, "alice", auth_hash) == user_id
        assert verify_login(connection, "alice", kek) is None  # the KEK is not a login
        assert verify_login(connection, "alice", bytes(32)) is None
        assert verify_login(connection, "nobody", auth_hash) is None
        connection.execute(users.update().values(is_active=False))
        assert verify_login(connection, "alice", auth_hash) is None
        with pytest.raises(VaultError, match="disabled"):
            unlock(connection, "alice", PASSWORD)


def test_credentials_and_state_round_trip_and_stay_in_place(warehouse_url: str) -> None:
    engine = get_engine(warehouse_url)
    with engine.begin() as connection:
        alice = create_user(connection, "alice", PASSWORD)
        bob = create_user(connection, "bob", "bob's password")
        giro, depot = factories.account(connection, alice, "dkb", "Giro"), factories.account(connection, alice, "dkb", "Depot")
        bobs = factories.account(connection, bob, "dkb", "Giro")
        a = unlock(connection, "alice", PASSWORD)
        b = unlock(connection, "bob", "bob's password")
    blob = encrypt_credentials(a, giro, CREDENTIALS)
    assert b"pin-98765-secret" not in blob
    assert decrypt_credentials(a, giro, blob) == CREDENTIALS
    with pytest.raises(VaultError) as error:
        decrypt_credentials(a, depot, blob)  # moved to another account of the same user
    assert str(error.value) == "credential blob was tampered with or belongs to another account"
    with pytest.raises(VaultError, match="belongs to another account"):
        decrypt_credentials(b, bobs, blob)  # moved to another user's account
    # Even a user id spoofed onto bob's key does not open alice's blob.
    with pytest.raises(VaultError, match="belongs to another account"):
        decrypt_credentials(Unlocked(alice, "alice", b.data_key), giro, blob)

    state = encrypt_state(a, giro, "fints_state", b"\x00deconstructed client\xff")
    assert decrypt_state(a, giro, "fints_state", state) == b"\x00deconstructed client\xff"
    with pytest.raises(VaultError, match="tan_dialog state blob was tampered"):
        decrypt_state(a, giro, "tan_dialog", state)
    with pytest.raises(VaultError, match="belongs to another account"):
        decrypt_state(a, depot, "fints_state", state)
    with pytest.raises(VaultError, match="reserved"):
        encrypt_state(a, giro, "credentials", b"x")
    with pytest.raises(VaultError, match="reserved"):
        decrypt_state(a, giro, "credentials", blob)
    with pytest.raises(VaultError, match="JSON"):
        encrypt_credentials(a, giro, {"pin": object()})


def test_password_change_rewraps_the_data_key_only(warehouse_url: str) -> None:
    engine = get_engine(warehouse_url)
    with engine.begin() as connection:
        user_id = create_user(connection, "alice", PASSWORD)
        giro = factories.account(connection, user_id, "dkb", "Giro")
        before = unlock(connection, "alice", PASSWORD)
        blob = encrypt_credentials(before, giro, CREDENTIALS)
        connection.execute(financial_accounts.update().values(encrypted_credentials=blob))
        connection.execute(
            insert(refresh_tokens).values(
                jti="t1",
                family_id="f1",
                user_id=user_id,
                issued_at=func.now(),
                expires_at=func.now(),
            )
        )
        old_row = user_row(connection, "alice")
    stronger = KdfParams(time_cost=2, memory_kib=1024, parallelism=1)
    with engine.begin() as connection:
        change_password(connection, "alice", PASSWORD, "a new passphrase", params=stronger)
    with engine.connect() as connection:
        new_row = user_row(connection, "alice")
        stored = connection.execute(select(financial_accounts.c.encrypted_credentials)).scalar()
        after = unlock(connection, "alice", "a new passphrase")
        with pytest.raises(VaultError, match="wrong username or password"):
            unlock(connection, "alice", PASSWORD)
        revoked = connection.execute(select(refresh_tokens.c.revoked_at)).scalar()
    assert stored == blob  # credentials were not re-encrypted
    assert after.data_key == before.data_key
    assert decrypt_credentials(after, giro, stored) == CREDENTIALS
    assert new_row["credentials_version"] == old_row["credentials_version"] + 1
    assert new_row["kdf_params"] == stronger.to_json()
    for column in ("auth_salt", "kek_salt", "auth_hash", "wrapped_data_key"):
        assert new_row[column] != old_row[column]
    assert revoked is not None


def dump_database(url: str) -> str:
    """Every row of every table as text (SQLite: iterdump; PostgreSQL: SELECT * per table)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        connection = sqlite3.connect(parsed.database)
        try:
            return "\n".join(connection.iterdump())
        finally:
            connection.close()
    engine = get_engine(url)
    lines = []
    with engine.connect() as connection:
        for table in inspect(connection).get_table_names():
            for row in connection.execute(text(f'SELECT * FROM "{table}"')):
                for value in row:
                    if isinstance(value, bytes | memoryview):
                        value = bytes(value)
                        lines.append(value.hex())
                        lines.append(value.decode("latin-1"))
                    else:
                        lines.append(str(value))
    return "\n".join(lines)


def test_database_dump_holds_no_secret(warehouse_url: str) -> None:
    engine = get_engine(warehouse_url)
    with engine.begin() as connection:
        user_id = create_user(connection, "alice", PASSWORD)
        giro = factories.account(connection, user_id, "dkb", "Giro")
        unlocked = unlock(connection, "alice", PASSWORD)
        params = login_parameters(connection, "alice")
        assert params is not None
        connection.execute(
            financial_accounts.update().values(
                encrypted_credentials=encrypt_credentials(unlocked, giro, CREDENTIALS)
            )
        )
    dump = dump_database(warehouse_url)
    assert "alice" in dump and "$argon2id$" in dump  # the dump is real
    kek = derive_kek(PASSWORD, decode_salt(params.kek_salt), params.kdf_params)
    auth_hash = derive_auth_hash(PASSWORD, decode_salt(params.auth_salt), params.kdf_params)
    secrets = [PASSWORD, *CREDENTIALS.values()]
    secrets += [s.encode().hex() for s in secrets]
    for key in (unlocked.data_key, kek, auth_hash):
        secrets += [key.hex(), key.hex().upper(), key.decode("latin-1")]
    for secret in secrets:
        assert secret.lower() not in dump.lower(), secret


def test_vault_interface_is_stable() -> None:
    assert set(vault.__all__) >= {
        "VaultError",
        "Unlocked",
        "create_user",
        "unlock",
        "verify_login",
        "change_password",
        "encrypt_credentials",
        "decrypt_credentials",
        "encrypt_state",
        "decrypt_state",
    }
