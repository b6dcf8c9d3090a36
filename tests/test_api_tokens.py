"""Tokens (security.md) over HTTP: login, salts, refused tokens answered 401 (the attack list
itself: tests/test_api_token_claims.py), refresh rotation and reuse detection, revocation on
password change, the signing key's configuration."""

from __future__ import annotations

import base64
import os
import stat
import time
from pathlib import Path

import jwt
import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from sqlalchemy import delete, select, update

from tests.support.api import (
    BOB_PASSWORD,
    PASSWORD,
    SECRET_KEY,
    Api,
    auth_hash,
    bearer,
)
from tests.support.factories import CHEAP
from wealth_pipeline.api import create_app
from wealth_pipeline.api.tokens import KeyConfigurationError
from wealth_pipeline.security.envelope import open_blob
from wealth_pipeline.security.kdf import KdfParams, derive_kek
from wealth_pipeline.security.vault import change_password, unlock
from wealth_pipeline.warehouse.schema import refresh_tokens, users

PROFILE = "/api/profile/"


def claims_for(api: Api, **overrides) -> dict:
    now = int(time.time())
    claims = {
        "iss": "wealth-pipeline",
        "aud": "wealth-pipeline-api",
        "iat": now,
        "nbf": now,
        "exp": now + 300,
        "sub": str(api.ids.alice),
        "typ": "access",
        "ver": 1,
    }
    claims.update(overrides)
    return {key: value for key, value in claims.items() if value is not None}


def forge(
    api: Api,
    key: str = SECRET_KEY,
    algorithm: str = "HS256",
    header_type: str | None = None,
    **overrides,
) -> str:
    claims = claims_for(api, **overrides)
    header_type = header_type or {"access": "at+jwt", "refresh": "rt+jwt"}.get(claims.get("typ"))
    headers = {"typ": header_type} if header_type else None
    return jwt.encode(claims, key, algorithm=algorithm, headers=headers)


def refused(api: Api, token: str, path: str = PROFILE) -> None:
    answer = api.client.get(path, headers=bearer(token))
    assert answer.status_code == 401, answer.text
    assert answer.headers["www-authenticate"] == "Bearer"
    assert token not in answer.text


# --- login and salts ----------------------------------------------------------------------


def test_login_gives_tokens_and_the_key_the_client_can_unwrap(api: Api) -> None:
    body = api.login()
    assert set(body) == {
        "access",
        "refresh",
        "token_type",
        "expires_in",
        "user",
        "encrypted_user_key",
    }
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 600
    assert body["user"] == {
        "id": api.ids.alice,
        "username": "alice",
        "email": "alice@example.org",
        "base_currency": "EUR",
    }
    wrapped = body["encrypted_user_key"]
    # What the client does with its password: derive the KEK, open the wrapped data key.
    kek = derive_kek(
        PASSWORD, bytes.fromhex(wrapped["kek_salt"]), KdfParams.from_json(wrapped["kdf_params"])
    )
    data_key = open_blob(
        kek,
        base64.b64decode(wrapped["wrapped_data_key"]),
        base64.b64decode(wrapped["associated_data"]),
    )
    with api.engine.connect() as connection:
        assert data_key == unlock(connection, "alice", PASSWORD).data_key
    assert api.client.get(PROFILE, headers=bearer(body["access"])).json()["username"] == "alice"


def test_wrong_password_and_unknown_user_answer_the_same(api: Api) -> None:
    wrong = api.client.post(
        "/api/auth/login/",
        json={"username": "alice", "auth_hash": auth_hash(api.client, "alice", "not it")},
    )
    unknown = api.client.post(
        "/api/auth/login/",
        json={"username": "mallory", "auth_hash": auth_hash(api.client, "mallory", "x")},
    )
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json() == {"detail": "wrong username or password"}
    with api.engine.connect() as connection:
        assert connection.execute(select(refresh_tokens)).all() == []


@pytest.mark.parametrize(
    "body",
    [
        {"username": "alice", "auth_hash": "not base64!"},
        {"username": "alice", "auth_hash": base64.b64encode(b"short").decode()},
        {"username": "alice"},
        {"auth_hash": "AAAA"},
        {"username": "", "auth_hash": "AAAA"},
    ],
)
def test_malformed_login_answers_422(api: Api, body: dict) -> None:
    answer = api.client.post("/api/auth/login/", json=body)
    assert answer.status_code == 422
    assert answer.json()["detail"]


def test_salts_are_real_for_users_and_stable_fakes_otherwise(api: Api) -> None:
    with api.engine.connect() as connection:
        real = connection.execute(
            select(users.c.auth_salt, users.c.kek_salt).where(users.c.username == "alice")
        ).one()
    alice = api.client.get("/api/auth/salt/", params={"username": "alice"}).json()
    assert (alice["auth_salt"], alice["kek_salt"]) == (real.auth_salt, real.kek_salt)
    nobody = api.client.get("/api/auth/salt/", params={"username": "nobody"}).json()
    again = api.client.get("/api/auth/salt/", params={"username": "nobody"}).json()
    other = api.client.get("/api/auth/salt/", params={"username": "someone.else"}).json()
    assert nobody == again  # stable: asking twice does not tell a fake from a real one
    assert nobody["auth_salt"] != other["auth_salt"]
    assert nobody["auth_salt"] != nobody["kek_salt"]
    assert len(nobody["auth_salt"]) == len(real.auth_salt)
    assert set(nobody) == set(alice)
    assert nobody["kdf_params"] == alice["kdf_params"]  # same (configured) parameters
    assert api.client.get("/api/auth/salt/").status_code == 422


# --- the attack list ----------------------------------------------------------------------


def test_a_correctly_forged_token_is_accepted(api: Api) -> None:
    """The control for the cases below: only the one thing each changes is wrong."""
    answer = api.client.get(PROFILE, headers=bearer(forge(api)))
    assert answer.status_code == 200


@pytest.mark.parametrize(
    "overrides",
    [pytest.param({"exp": -60, "iat": -400}, id="expired"), pytest.param({"sub": "x"}, id="sub")],
)
def test_a_refused_token_answers_401_and_is_never_echoed(api: Api, overrides: dict) -> None:
    """The wiring of the token module's refusals (tests/test_api_token_claims.py lists them)."""
    now = int(time.time())
    times = {claim: now + offset for claim, offset in overrides.items() if claim != "sub"}
    refused(api, forge(api, **{**overrides, **times}))


@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer ",
        "Bearer",
        "Bearer a.b",
        "Bearer a.b.c.d",
        "Bearer ...",
        "Basic YWxpY2U6eA==",
        "token",
    ],
)
def test_malformed_authorization_is_refused(api: Api, authorization: str) -> None:
    answer = api.client.get(PROFILE, headers={"Authorization": authorization})
    assert answer.status_code == 401


def test_no_token_is_refused_everywhere(api: Api) -> None:
    for path in (PROFILE, "/api/accounts/", "/api/wealth/summary/", "/api/exchange-rates/"):
        assert api.client.get(path).status_code == 401


def test_access_token_is_no_refresh_token(api: Api) -> None:
    answer = api.client.post("/api/auth/refresh/", json={"refresh": api.login()["access"]})
    assert answer.status_code == 401
    assert answer.json()["detail"] == "not a refresh token"  # in English ("an refresh" was not)


def test_refresh_token_is_no_access_token(api: Api) -> None:
    refused(api, api.login()["refresh"])


def test_deleted_users_tokens_are_refused(api: Api) -> None:
    tokens = api.login("bob", BOB_PASSWORD)
    assert api.client.get(PROFILE, headers=bearer(tokens["access"])).status_code == 200
    with api.engine.begin() as connection:
        connection.execute(delete(users).where(users.c.id == api.ids.bob))
    refused(api, tokens["access"])
    answer = api.client.post("/api/auth/refresh/", json={"refresh": tokens["refresh"]})
    assert answer.status_code == 401


def test_deactivated_users_tokens_are_refused(api: Api) -> None:
    tokens = api.login()
    with api.engine.begin() as connection:
        connection.execute(update(users).where(users.c.id == api.ids.alice).values(is_active=False))
    refused(api, tokens["access"])
    assert (
        api.client.post("/api/auth/refresh/", json={"refresh": tokens["refresh"]}).status_code
        == 401
    )


def test_password_change_revokes_earlier_tokens(api: Api) -> None:
    before = api.login()
    with api.engine.begin() as connection:
        change_password(connection, "alice", PASSWORD, "a brand new password", params=CHEAP)
    refused(api, before["access"])
    assert (
        api.client.post("/api/auth/refresh/", json={"refresh": before["refresh"]}).status_code
        == 401
    )
    after = api.login("alice", "a brand new password")
    assert api.client.get(PROFILE, headers=bearer(after["access"])).status_code == 200


# --- refresh rotation ---------------------------------------------------------------------


def test_refresh_rotates_and_reuse_revokes_the_family(api: Api) -> None:
    first = api.login()
    other_session = api.login()
    second = api.client.post("/api/auth/refresh/", json={"refresh": first["refresh"]})
    assert second.status_code == 200
    second = second.json()
    assert set(second) == {"access", "refresh", "token_type", "expires_in"}
    assert second["refresh"] != first["refresh"]
    assert api.client.get(PROFILE, headers=bearer(second["access"])).status_code == 200
    # The old refresh token again: someone holds a copy. Refused, and the family revoked.
    reuse = api.client.post("/api/auth/refresh/", json={"refresh": first["refresh"]})
    assert reuse.status_code == 401
    assert "already used" in reuse.json()["detail"]
    stolen = api.client.post("/api/auth/refresh/", json={"refresh": second["refresh"]})
    assert stolen.status_code == 401
    # Another login (another family) is not affected.
    assert (
        api.client.post(
            "/api/auth/refresh/", json={"refresh": other_session["refresh"]}
        ).status_code
        == 200
    )
    revoked: dict[str, set[bool]] = {}
    with api.engine.connect() as connection:
        for family, when in connection.execute(
            select(refresh_tokens.c.family_id, refresh_tokens.c.revoked_at)
        ):
            revoked.setdefault(family, set()).add(when is not None)
    family = jwt.decode(first["refresh"], options={"verify_signature": False})["fam"]
    other = jwt.decode(other_session["refresh"], options={"verify_signature": False})["fam"]
    assert revoked == {family: {True}, other: {False}}


def test_garbage_refresh_tokens_answer_401_or_422(api: Api) -> None:
    assert api.client.post("/api/auth/refresh/", json={"refresh": "x.y.z"}).status_code == 401
    assert api.client.post("/api/auth/refresh/", json={}).status_code == 422
    unknown = forge(api, typ="refresh", jti="0" * 32, fam="1" * 32, exp=int(time.time()) + 3600)
    assert api.client.post("/api/auth/refresh/", json={"refresh": unknown}).status_code == 401


# --- the signing key ----------------------------------------------------------------------


def test_a_short_key_refuses_to_start(api_env: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEALTH_API_SECRET_KEY", "too short, 31 bytes long.......")
    with pytest.raises(KeyConfigurationError, match="at least 32 bytes"):
        create_app()
    from wealth_pipeline.cli import main

    result = CliRunner().invoke(main, ["api"])
    assert result.exit_code == 1
    assert "at least 32 bytes" in result.output


def test_without_a_configured_key_a_private_key_file_is_made_once(
    api_env: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("WEALTH_API_SECRET_KEY")
    key_file = tmp_path / "home" / "keys" / "api_secret.key"
    first = create_app()
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    token = first.state.tokens.access_token(1, 1)
    second = create_app()  # another worker: the same key
    assert second.state.tokens.decode(token, "access").user_id == 1
    os.chmod(key_file, 0o644)
    with pytest.raises(KeyConfigurationError, match="readable by others"):
        create_app()


def test_tokens_of_another_key_are_refused(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    token = api.login()["access"]
    monkeypatch.setenv("WEALTH_API_SECRET_KEY", "a different deployment's key, also 48 bytes!!!")
    with TestClient(create_app()) as other:
        assert other.get(PROFILE, headers=bearer(token)).status_code == 401


def test_expired_refresh_rows_are_purged_at_the_next_login(api: Api) -> None:
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import insert

    past = datetime.now(UTC) - timedelta(days=30)
    with api.engine.begin() as connection:
        connection.execute(
            insert(refresh_tokens).values(
                jti="old",
                family_id="old",
                user_id=api.ids.alice,
                issued_at=past,
                expires_at=past + timedelta(days=14),
            )
        )
    api.login()
    with api.engine.connect() as connection:
        jtis = set(connection.execute(select(refresh_tokens.c.jti)).scalars())
    assert "old" not in jtis and len(jtis) == 1


def test_wealth_api_binds_to_this_machine_unless_configured(
    api_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import uvicorn

    from wealth_pipeline.cli import main

    started: list[dict] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: started.append(options))
    result = CliRunner().invoke(main, ["api", "--workers", "2"])
    assert result.exit_code == 0, result.output
    assert (started[-1]["host"], started[-1]["port"], started[-1]["workers"]) == (
        "127.0.0.1",
        8000,
        2,
    )
    monkeypatch.setenv("WEALTH_API_HOST", "0.0.0.0")
    monkeypatch.setenv("WEALTH_API_PORT", "9100")
    assert CliRunner().invoke(main, ["api"]).exit_code == 0
    assert (started[-1]["host"], started[-1]["port"]) == ("0.0.0.0", 9100)
    assert CliRunner().invoke(main, ["api", "--workers", "0"]).exit_code == 2
