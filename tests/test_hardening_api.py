"""The API's answers to what an adversarial review found, on SQLite and PostgreSQL: logout,
fake salts after a change of the Argon2 parameters, the OpenAPI document against the code, a
missing or deleted warehouse, and the login limiter behind a proxy. Nothing refused writes
anything. (Token claims of the wrong type or out of range: tests/test_api_token_claims.py.)"""

from __future__ import annotations

import base64
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import httpx
import jwt
import pytest
import uvicorn
from click.testing import CliRunner
from sqlalchemy import func, select

from tests.support.api import (
    PASSWORD,
    SECRET_KEY,
    Api,
    auth_hash,
    bearer,
)
from tests.support.fakes.server import free_port
from wealth_pipeline.api import create_app
from wealth_pipeline.api.app import SchemaNotCurrent
from wealth_pipeline.api.login_guard import LoginGuard
from wealth_pipeline.cli import main
from wealth_pipeline.cli.api import proxy_options
from wealth_pipeline.security.kdf import KdfParams
from wealth_pipeline.warehouse.schema import refresh_tokens

REFRESH, LOGOUT, LOGIN, SALT = (
    "/api/auth/refresh/",
    "/api/auth/logout/",
    "/api/auth/login/",
    "/api/auth/salt/",
)


def status(api: Api, path: str, access: str) -> int:
    return api.client.get(path, headers=bearer(access)).status_code


def token_rows(api: Api) -> int:
    with api.engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(refresh_tokens)).scalar_one()


# --- logout ---------------------------------------------------------------------------------


def test_logout_revokes_the_whole_refresh_family(api: Api) -> None:
    first = api.login()
    second = api.client.post(REFRESH, json={"refresh": first["refresh"]}).json()
    other = api.login()  # another login: another family, untouched
    answer = api.client.post(LOGOUT, json={"refresh": second["refresh"]})
    assert answer.status_code == 204 and answer.content == b""
    assert api.client.post(REFRESH, json={"refresh": second["refresh"]}).status_code == 401
    with api.engine.connect() as connection:
        rows = connection.execute(
            select(refresh_tokens.c.family_id, refresh_tokens.c.revoked_at)
        ).all()
    family = jwt.decode(second["refresh"], options={"verify_signature": False})["fam"]
    assert {row.revoked_at is not None for row in rows if row.family_id == family} == {True}
    assert {row.revoked_at for row in rows if row.family_id != family} == {None}
    assert api.client.post(REFRESH, json={"refresh": other["refresh"]}).status_code == 200
    # Again: nothing left to revoke, still fine.
    assert api.client.post(LOGOUT, json={"refresh": second["refresh"]}).status_code == 204


def test_logout_refuses_what_is_not_a_refresh_token(api: Api) -> None:
    tokens = api.login()
    before = token_rows(api)
    other_key = jwt.encode(
        jwt.decode(tokens["refresh"], options={"verify_signature": False}),
        "another key, long enough for HS256 to be used!!",
        algorithm="HS256",
        headers={"typ": "rt+jwt"},
    )
    for token in (tokens["access"], "not.a.token", other_key):
        answer = api.client.post(LOGOUT, json={"refresh": token})
        assert answer.status_code == 401, answer.text
    assert api.client.post(REFRESH, json={"refresh": tokens["refresh"]}).status_code == 200
    assert token_rows(api) == before + 1  # only the refresh above wrote


# --- names and salts ------------------------------------------------------------------------


def test_a_username_with_a_trailing_newline_is_not_the_user(api: Api) -> None:
    real = api.client.get(SALT, params={"username": "alice"}).json()
    other = api.client.get(SALT, params={"username": "alice\n"}).json()
    assert other["auth_salt"] != real["auth_salt"]
    hashed = auth_hash(api.client, "alice", PASSWORD)
    answer = api.client.post(LOGIN, json={"username": "alice\n", "auth_hash": hashed})
    assert answer.status_code == 401
    assert token_rows(api) == 0


def test_unknown_names_get_the_parameters_most_users_have(
    api: Api,
    cheap_argon2: KdfParams,
) -> None:
    stronger = replace(cheap_argon2, time_cost=cheap_argon2.time_cost + 1)
    api.client.app.state.kdf_params = stronger  # the defaults were raised since
    known = api.client.get(SALT, params={"username": "alice"}).json()["kdf_params"]
    unknown = api.client.get(SALT, params={"username": "nobody-here"}).json()["kdf_params"]
    assert unknown == known == cheap_argon2.to_json()
    odd = api.client.get(SALT, params={"username": "not a name"}).json()["kdf_params"]
    assert odd == known


# --- the OpenAPI document says what the code does --------------------------------------------


def test_the_schema_describes_what_is_refused(api: Api) -> None:
    headers = api.headers()
    before = token_rows(api)
    schema = api.client.get("/api/schema").json()
    rates = schema["paths"]["/api/exchange-rates/"]["get"]["parameters"]
    base = next(p for p in rates if p["name"] == "base")["schema"]
    pattern = base.get("pattern") or next(s for s in base["anyOf"] if "pattern" in s)["pattern"]
    assert pattern == "^[A-Za-z]{3}$"
    rates_path = "/api/exchange-rates/"
    assert api.client.get(rates_path, params={"base": "000"}, headers=headers).status_code == 422
    assert api.client.get(rates_path, params={"base": "usd"}, headers=headers).status_code == 200
    login = schema["components"]["schemas"]["LoginRequest"]["properties"]["auth_hash"]
    assert login["pattern"] == "^[A-Za-z0-9+/]{43}=$"
    not_base64 = api.client.post(LOGIN, json={"username": "alice", "auth_hash": "*" * 43 + "="})
    assert not_base64.status_code == 422
    for path in (LOGIN, REFRESH, LOGOUT):
        responses = schema["paths"][path]["post"]["responses"]
        assert "400" in responses, path
        answer = api.client.post(
            path, content=b"\xff\xfe{", headers={"content-type": "application/json"}
        )
        assert answer.status_code == 400 and answer.json()["detail"], path
    assert token_rows(api) == before


# --- a missing, deleted or replaced warehouse -------------------------------------------------


def test_the_api_refuses_to_start_without_a_warehouse(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = tmp_path / "nowhere" / "warehouse.sqlite"
    monkeypatch.setenv("WEALTH_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("WEALTH_DATABASE_URL", f"sqlite:///{missing}")
    monkeypatch.setenv("WEALTH_API_SECRET_KEY", SECRET_KEY)
    with pytest.raises(SchemaNotCurrent, match="no warehouse at"):
        create_app()
    result = CliRunner().invoke(main, ["api"])
    assert result.exit_code == 1 and "no warehouse at" in result.output
    assert not missing.exists() and not missing.parent.exists()


# A file of its own: SQLite only (a PostgreSQL database is a server's).
sqlite_only = pytest.mark.parametrize("warehouse_url", ["sqlite"], indirect=True)


@sqlite_only
def test_a_deleted_warehouse_answers_503_and_nothing_is_written_into_it(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    tokens = api.login()
    path = Path(api.url.removeprefix("sqlite:///"))
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    assert status(api, "/api/profile/", tokens["access"]) == 503
    answer = api.client.post(REFRESH, json={"refresh": tokens["refresh"]})
    assert answer.status_code == 503 and answer.headers["retry-after"]
    salts = api.client.get(SALT, params={"username": "alice"})
    assert salts.status_code == 503
    assert not path.exists()  # not made again, empty, by the API
    assert f"The warehouse file {path} is missing (deleted or moved)" in caplog.text


@sqlite_only
def test_a_replaced_warehouse_is_the_one_answered_from(api: Api) -> None:
    tokens = api.login()
    path = Path(api.url.removeprefix("sqlite:///"))
    copy = path.with_name("restored.sqlite")
    with sqlite3.connect(path) as source, sqlite3.connect(copy) as target:
        source.backup(target)  # a restored backup, as an operator would put it in place:
    for suffix in ("-wal", "-shm"):  # one file, without the old one's journal
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    os.replace(copy, path)
    answer = api.client.post(REFRESH, json={"refresh": tokens["refresh"]})
    assert answer.status_code == 200, answer.text
    # The new refresh token was written into the file now at the path, not the old inode.
    with sqlite3.connect(path) as connection:
        (rows,) = connection.execute("SELECT count(*) FROM refresh_tokens").fetchone()
    assert rows == 2


# --- the login limiter behind a proxy ---------------------------------------------------------


@contextmanager
def served(app, forwarded_allow_ips: str) -> Iterator[str]:
    """`app` on a real uvicorn server on 127.0.0.1 with the proxy options `wealth api` uses."""
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", **proxy_options(forwarded_allow_ips)
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not server.started:
            assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
            time.sleep(0.01)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.mark.parametrize(
    ("trusted", "counted_as"), [("", "127.0.0.1"), ("127.0.0.1", "203.0.113.7")]
)
def test_the_limiter_takes_the_proxys_address_only_when_configured(
    api: Api, trusted: str, counted_as: str
) -> None:
    guard = LoginGuard()
    api.client.app.state.login_guard = guard
    wrong = base64.b64encode(bytes(32)).decode()
    with served(api.client.app, trusted) as url:
        answer = httpx.post(
            f"{url}{LOGIN}",
            json={"username": "alice", "auth_hash": wrong},
            headers={"X-Forwarded-For": "203.0.113.7"},
            timeout=30,
        )
    assert answer.status_code == 401
    addresses = {value for kind, value in guard._failures if kind == "address"}
    assert addresses == {counted_as}


def test_the_readme_proxy_example_sets_the_clients_address() -> None:
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    nginx = readme.split("```nginx", 1)[1].split("```", 1)[0]
    assert "proxy_set_header X-Forwarded-For $remote_addr;" in nginx
    assert "--forwarded-allow-ips 127.0.0.1" in readme


@pytest.mark.postgres
def test_the_api_refuses_an_empty_postgres_database(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.support.deployment import scratch_database
    from wealth_pipeline.warehouse.engine import get_engine

    monkeypatch.setenv("WEALTH_API_SECRET_KEY", SECRET_KEY)
    with scratch_database("wealth_unmigrated") as url:
        try:
            with pytest.raises(SchemaNotCurrent, match="wealth db upgrade"):
                create_app(database_url=url)
        finally:
            get_engine(url, readonly=True, migrate=False, must_exist=True).dispose()
        with get_engine(url, readonly=True, migrate=False, must_exist=True).connect() as check:
            assert (
                check.exec_driver_sql(
                    "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
                ).scalar()
                == 0
            )  # nothing created
        get_engine(url, readonly=True, migrate=False, must_exist=True).dispose()
