"""Shared by the sync tests: fake brokers (registered under test-only codes), a warehouse with
users, a sync key, accounts and ECB rates, and helpers to read what a sync wrote."""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar

import pytest
from sqlalchemy import Engine, select

from tests.support import factories
from tests.support.factories import PASSWORD
from wealth_pipeline import clock
from wealth_pipeline.accounts import Owner
from wealth_pipeline.brokers.base import (
    AuthenticationFailed,
    AuthResult,
    BalanceInfo,
    BrokerIntegrationBase,
    PositionInfo,
    TemporarilyUnavailable,
)
from wealth_pipeline.brokers.catalogue import get_broker, load_catalogue
from wealth_pipeline.brokers.registry import register
from wealth_pipeline.security.sync_keys import (
    enable_auto_sync,
    generate_key_pair,
    load_public_key,
)
from wealth_pipeline.security.vault import unlock
from wealth_pipeline.settings import load_settings
from wealth_pipeline.warehouse.engine import get_engine
from wealth_pipeline.warehouse.schema import (
    account_sessions,
    account_snapshots,
    account_sync_state,
    financial_accounts,
    portfolio_positions,
)

PIN = "pin-24680-sync-secret"
TAN = "735911"
SCHEMA = {
    "type": "object",
    "required": ["username", "pin"],
    "properties": {
        "username": {"type": "string", "minLength": 1},
        "pin": {"type": "string", "minLength": 1, "format": "password"},
    },
    "additionalProperties": False,
}


class Calls:
    """Concurrent calls per broker code, and the most seen at once."""

    lock = threading.Lock()
    active: ClassVar[dict[str, int]] = defaultdict(int)
    peak: ClassVar[dict[str, int]] = defaultdict(int)
    total: ClassVar[dict[str, int]] = defaultdict(int)
    overall = 0
    overall_peak = 0

    @classmethod
    def reset(cls) -> None:
        cls.active.clear()
        cls.peak.clear()
        cls.total.clear()
        cls.overall = cls.overall_peak = 0

    @classmethod
    def enter(cls, code: str) -> None:
        with cls.lock:
            cls.active[code] += 1
            cls.total[code] += 1
            cls.overall += 1
            cls.peak[code] = max(cls.peak[code], cls.active[code])
            cls.overall_peak = max(cls.overall_peak, cls.overall)

    @classmethod
    def leave(cls, code: str) -> None:
        with cls.lock:
            cls.active[code] -= 1
            cls.overall -= 1


class FakeBroker(BrokerIntegrationBase):
    """Answers from the credentials; the subclasses below change one behaviour each."""

    secret_fields = ("pin",)
    delay = 0.0
    fail_positions: ClassVar[bool] = False

    def authenticate(self) -> AuthResult:
        Calls.enter(self.broker.code)
        try:
            time.sleep(self.delay)
            if self.credentials.get("pin") != PIN:
                raise AuthenticationFailed(f"PIN {self.credentials.get('pin')} refused")
            return self.login()
        finally:
            Calls.leave(self.broker.code)

    def login(self) -> AuthResult:
        return AuthResult(success=True)

    def get_accounts(self) -> list:
        return []

    def get_balance(self, account_identifier: str) -> BalanceInfo:
        day = self.context.current_day()
        return BalanceInfo(
            Decimal("1000.0000") + day.day,
            "USD",
            day,
            raw_data={"echo": "balance", "day": str(day)},
        )

    def get_positions(self, account_identifier: str) -> list[PositionInfo]:
        if type(self).fail_positions:
            raise TemporarilyUnavailable("positions service down")
        day = self.context.current_day()
        return [
            PositionInfo("ACME", "Acme", Decimal("10"), Decimal("60.5"), Decimal("605.0000"), "USD",
                         isin="US0000000001", asset_class="equity"),
            PositionInfo("CASH", "Cash", Decimal("1"), None, Decimal("395.0000") + day.day, "USD",
                         asset_class="cash"),
        ]  # fmt: skip

    def export_state(self) -> bytes:
        runs = int((self.context.state or b"runs:0").split(b":")[1])
        return f"runs:{runs + 1}".encode()


@register("fake_ok")
class OkBroker(FakeBroker):
    delay = 0.02


@register("fake_fail")
class FailingBroker(FakeBroker):
    def login(self) -> AuthResult:
        raise TemporarilyUnavailable("the bank is in maintenance")


@register("fake_2fa")
class TanBroker(FakeBroker):
    """Needs a TAN at every fresh login; `complete_2fa` resumes the paused dialog."""

    completed: ClassVar[list[tuple[str | None, bytes | None]]] = []

    def login(self) -> AuthResult:
        return AuthResult(success=False, requires_2fa=True, two_fa_type="tan",
                          session_data=b"dialog-42", challenge_data={"text": "Enter the TAN"})  # fmt: skip

    def complete_2fa(self, auth_code: str | None, session_data: bytes | None) -> AuthResult:
        type(self).completed.append((auth_code, session_data))
        if auth_code == TAN and session_data == b"dialog-42":
            return AuthResult(success=True)
        return AuthResult(success=False, requires_2fa=True, two_fa_type="tan",
                          session_data=session_data, challenge_data={"text": "Wrong TAN"})  # fmt: skip


@register("fake_slow")
class SlowBroker(FakeBroker):
    delay = 0.15


FAKE_CODES = ("fake_ok", "fake_fail", "fake_2fa", "fake_slow")
SYNC_DAY = date(2024, 1, 15)


@dataclass
class World:
    url: str
    engine: Engine
    key_file: Path
    owner: Owner
    accounts: dict[str, list[int]]


def add_fake_brokers(engine: Engine) -> None:
    with engine.begin() as connection:
        for code in FAKE_CODES:
            factories.broker(
                connection, code, code.replace("_", " ").title(), integration_type="rest",
                supports_2fa=True, supports_auto_sync=True, credential_schema=SCHEMA,
            )  # fmt: skip


def broker_account(
    engine: Engine, owner: Owner, unlocked: Any, code: str, name: str, pin: str = PIN
) -> int:
    """A USD brokerage account at `code`; its login (with `pin`) stored encrypted when the
    broker takes credentials."""
    with engine.begin() as connection:
        factories.broker(connection, code)
        broker = get_broker(connection, code)
        assert broker is not None
        secured = bool(broker["credential_schema"].get("properties"))
        return factories.account(
            connection, owner, code, name, kind="brokerage", currency="USD",
            identifier=f"{code}-{name}",
            credentials={"username": f"{name}.login", "pin": pin} if secured else None,
            unlocked=unlocked if secured else None,
        )  # fmt: skip


def make_world(
    url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, counts: dict[str, int]
) -> World:
    monkeypatch.setenv("WEALTH_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("WEALTH_DATABASE_URL", url)
    monkeypatch.setenv("WEALTH_2FA_WAIT_SECONDS", "0")
    key_file = tmp_path / "keys" / "sync_key.pem"
    monkeypatch.setenv("WEALTH_SYNC_KEY_FILE", str(key_file))
    Calls.reset()
    TanBroker.completed = []
    FakeBroker.fail_positions = False
    engine = get_engine(url)
    info = generate_key_pair(key_file)
    with engine.begin() as connection:
        load_catalogue(connection)
        owner = factories.user(connection, "alice", "CHF", password=PASSWORD)
        unlocked = unlock(connection, "alice", PASSWORD)
        enable_auto_sync(connection, unlocked, load_public_key(info.public_key_path))
        factories.ecb_rates(connection, date(2023, 12, 20), date(2024, 4, 10))
    add_fake_brokers(engine)
    accounts = {
        code: [broker_account(engine, owner, unlocked, code, f"{code}{n}") for n in range(count)]
        for code, count in counts.items()
    }
    return World(url, engine, key_file, owner, accounts)


def settings():
    return load_settings()


def table_rows(engine: Engine, table: Any, *order: Any) -> list[tuple]:
    columns = [
        c for c in table.c if c.name not in ("id", "snapshot_id", "created_at", "updated_at")
    ]
    with engine.connect() as connection:
        return [tuple(row) for row in connection.execute(select(*columns).order_by(*order))]


def snapshot_rows(engine: Engine) -> list[tuple]:
    return table_rows(
        engine, account_snapshots, account_snapshots.c.account_id, account_snapshots.c.snapshot_date
    )


def position_rows(engine: Engine) -> list[tuple]:
    with engine.connect() as connection:
        query = (
            select(account_snapshots.c.account_id, account_snapshots.c.snapshot_date,
                   *[c for c in portfolio_positions.c if c.name not in ("id", "snapshot_id")])
            .join(account_snapshots, account_snapshots.c.id == portfolio_positions.c.snapshot_id)
            .order_by(account_snapshots.c.account_id, portfolio_positions.c.symbol)
        )  # fmt: skip
        return [tuple(row) for row in connection.execute(query)]


def states(engine: Engine, day: date = SYNC_DAY) -> dict[int, tuple[str, str | None, int]]:
    with engine.connect() as connection:
        rows = connection.execute(
            select(account_sync_state).where(account_sync_state.c.sync_date == day)
        )
        return {r.account_id: (r.status, r.reason, r.attempts) for r in rows}


def account_status(engine: Engine, account_id: int) -> tuple[str, str | None]:
    with engine.connect() as connection:
        row = connection.execute(
            select(financial_accounts.c.status, financial_accounts.c.status_message).where(
                financial_accounts.c.id == account_id
            )
        ).one()
        return row.status, row.status_message


def session_purposes(engine: Engine, account_id: int) -> set[str]:
    with engine.connect() as connection:
        return set(
            connection.execute(
                select(account_sessions.c.purpose).where(
                    account_sessions.c.account_id == account_id
                )
            ).scalars()
        )


def evening_run(day: date) -> datetime:
    """When the daily schedule syncs `day`: 17:30 in Berlin, or a day after now if that is
    later. A person's sync by hand (run at the test's real time) holds the account back for
    the user's 24-hour frequency: run after 18:30, it would skip tomorrow's 17:30 run."""
    scheduled = datetime.combine(day, datetime.min.time(), clock.ZONE) + timedelta(
        hours=17, minutes=30
    )
    return max(scheduled, clock.now() + timedelta(hours=24))
