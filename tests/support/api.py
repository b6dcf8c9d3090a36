"""Shared by the API tests: a fixed warehouse with hand-checked numbers, a client, logins.

The fixed warehouse (rates of 2025-01-02: 1 EUR = 1.25 USD = 0.94 CHF; 2025-01-03:
1.20 USD, 0.95 CHF):

- alice (base EUR):
  - Giro (DKB, EUR, checking, credentials stored): 1000.00 on 2025-01-01, 1200.00 on 01-03;
  - Brokerage (Interactive Brokers, USD): 2500.00 USD on 01-02 at 1/1.25 = 2000.0000 EUR,
    positions ACME (ISIN US0000000001) 10 x 150 USD = 1200 EUR and BETA 5 x 200 = 800 EUR;
  - Savings (manual, CHF, savings): 940.00 CHF on 01-03 at 1/0.95 (1.052631578947)
    = 989.4737 EUR.
  Net worth: 01-01 1000.0000, 01-02 3000.0000, 01-03 4189.4737.
- bob (base CHF): Cash (manual, EUR) 500.00 on 01-03 at 0.95 = 475.0000 CHF.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tests.support import factories
from tests.support.factories import PASSWORD
from wealth_pipeline.api import create_app
from wealth_pipeline.brokers.catalogue import load_catalogue
from wealth_pipeline.security.kdf import KdfParams, derive_auth_hash
from wealth_pipeline.security.vault import unlock
from wealth_pipeline.snapshots.store import NewPosition, NewSnapshot, write_snapshots
from wealth_pipeline.warehouse.engine import get_engine

BOB_PASSWORD = "bobs own password 42"
SECRET_KEY = "test-only signing key, 48 bytes long...........!"
FIRST, SECOND, LAST = date(2025, 1, 1), date(2025, 1, 2), date(2025, 1, 3)
GIRO_CREDENTIALS = {"username": "alice-login-4711", "pin": "pin-98765-secret"}
IBKR_CREDENTIALS = {"flex_token": "flex-token-123456789", "query_id": "987654"}


@dataclass
class Fixed:
    """Ids of the fixed warehouse."""

    alice: int
    bob: int
    giro: int
    brokerage: int
    savings: int
    bob_cash: int


@dataclass
class Api:
    client: TestClient
    engine: Engine
    url: str
    ids: Fixed

    def login(self, username: str = "alice", password: str = PASSWORD) -> dict:
        answer = self.client.post(
            "/api/auth/login/",
            json={"username": username, "auth_hash": auth_hash(self.client, username, password)},
        )
        assert answer.status_code == 200, answer.text
        return answer.json()

    def headers(self, username: str = "alice", password: str = PASSWORD) -> dict[str, str]:
        return bearer(self.login(username, password)["access"])

    def get(self, path: str, username: str = "alice", **kwargs):
        password = PASSWORD if username == "alice" else BOB_PASSWORD
        return self.client.get(path, headers=self.headers(username, password), **kwargs)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def auth_hash(client: TestClient, username: str, password: str) -> str:
    """What a client does: fetch the salts, derive the auth hash with Argon2id, base64 it."""
    salts = client.get("/api/auth/salt/", params={"username": username}).json()
    params = KdfParams.from_json(salts["kdf_params"])
    derived = derive_auth_hash(password, bytes.fromhex(salts["auth_salt"]), params)
    return base64.b64encode(derived).decode()


def populate(engine: Engine, params: KdfParams) -> Fixed:
    """The fixed warehouse of the module docstring (snapshots only; marts not built)."""
    with engine.begin() as connection:
        load_catalogue(connection)
        factories.rates(
            connection, {SECOND: {"USD": "1.25", "CHF": "0.94"}, LAST: {"USD": "1.2", "CHF": "0.95"}}
        )
        alice = factories.user(
            connection, "alice", password=PASSWORD, email="alice@example.org", params=params
        )
        bob = factories.user(connection, "bob", "CHF", password=BOB_PASSWORD, params=params)
        unlocked = unlock(connection, "alice", PASSWORD)
        giro = factories.account(
            connection, alice, "dkb", "Giro", identifier="DE02120300000000202051",
            credentials=GIRO_CREDENTIALS, unlocked=unlocked,
        )  # fmt: skip
        brokerage = factories.account(
            connection, alice, "ibkr", "Brokerage", kind="brokerage", currency="USD",
            credentials=IBKR_CREDENTIALS, unlocked=unlocked,
        )  # fmt: skip
        savings = factories.account(
            connection, alice, "manual", "Savings", kind="savings", currency="CHF"
        )
        bob_cash = factories.account(connection, bob, "manual", "Cash", currency="EUR")
        write_snapshots(
            connection,
            giro,
            [
                NewSnapshot(FIRST, Decimal("1000.00"), "EUR"),
                NewSnapshot(LAST, Decimal("1200.00"), "EUR"),
            ],
            source="manual",
        )
        positions = [
            NewPosition(
                "ACME",
                "Acme Corp",
                Decimal(10),
                Decimal(150),
                Decimal(1500),
                "USD",
                isin="US0000000001",
                asset_class="equity",
            ),
            NewPosition(
                "BETA",
                "Beta Bond Fund",
                Decimal(5),
                Decimal(200),
                Decimal(1000),
                "USD",
                asset_class="fund",
            ),
        ]
        write_snapshots(
            connection,
            brokerage,
            [NewSnapshot(SECOND, Decimal("2500.00"), "USD", positions=positions)],
            source="auto",
        )
        write_snapshots(
            connection, savings, [NewSnapshot(LAST, Decimal("940.00"), "CHF")], source="manual"
        )
        write_snapshots(
            connection, bob_cash, [NewSnapshot(LAST, Decimal("500.00"), "EUR")], source="manual"
        )
    return Fixed(alice.id, bob.id, giro, brokerage, savings, bob_cash)


def build(engine: Engine) -> None:
    """The marts of the fixed warehouse, through the day of its last snapshots."""
    from wealth_pipeline.marts import build_marts

    build_marts(engine, as_of=LAST, full=True)


@pytest.fixture(name="api_env")
def api_env_fixture(
    warehouse_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cheap_argon2
) -> str:
    monkeypatch.setenv("WEALTH_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("WEALTH_DATABASE_URL", warehouse_url)
    monkeypatch.setenv("WEALTH_API_SECRET_KEY", SECRET_KEY)
    return warehouse_url


@pytest.fixture(name="api")
def api_fixture(api_env: str, cheap_argon2: KdfParams) -> Iterator[Api]:
    """The fixed warehouse with its marts built, and a client of the API over it."""
    engine = get_engine(api_env)
    ids = populate(engine, cheap_argon2)
    build(engine)
    with TestClient(create_app(), raise_server_exceptions=False) as client:
        yield Api(client, engine, api_env, ids)
