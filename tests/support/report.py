"""Shared by the report tests: people with accounts and snapshots, and the marts built from them.

The marts are built by the product's own `build_marts` from the snapshots written here, so
the report is checked against what the product really computes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import Engine, insert

from tests.support import factories
from tests.support.factories import PASSWORD
from wealth_pipeline.marts import build_marts
from wealth_pipeline.warehouse.engine import get_engine
from wealth_pipeline.warehouse.schema import account_snapshots

AS_OF = date(2026, 11, 27)  # a Friday: the marts' last day in these tests
MONDAY = date(2026, 11, 30)  # the report's day (ISO week 2026-W49)


@dataclass
class Person:
    user_id: int
    username: str
    accounts: dict[str, int] = field(default_factory=dict)


def add_person(
    engine: Engine,
    username: str,
    *,
    email: str | None = None,
    report_email: str | None = None,
    enabled: bool = True,
    base_currency: str = "EUR",
) -> Person:
    with engine.begin() as connection:
        owner = factories.user(
            connection, username, base_currency, password=PASSWORD, email=email,
            weekly_report_enabled=enabled, report_email=report_email,
        )  # fmt: skip
    return Person(owner.id, username)


def open_account(
    engine: Engine,
    person: Person,
    name: str,
    *,
    broker: str = "manual",
    currency: str = "EUR",
    account_type: str = "checking",
    status: str = "active",
    status_message: str | None = None,
) -> int:
    """An account of `person` (its identifier: its name), remembered by name."""
    with engine.begin() as connection:
        account_id = factories.account(
            connection, person.user_id, broker, name, kind=account_type, currency=currency,
            identifier=name, status=status, status_message=status_message,
        )  # fmt: skip
    person.accounts[name] = account_id
    return account_id


def snapshot(
    engine: Engine,
    account_id: int,
    day: date,
    balance: str,
    currency: str,
    base: str | None,
    *,
    base_currency: str = "EUR",
    note: str | None = None,
    positions: list[tuple[str, str, str]] = (),
) -> None:
    """One snapshot (and positions: (symbol, asset class, base value)) straight into the table."""
    with engine.begin() as connection:
        factories.snapshot(
            connection, account_id, day, balance, currency, base=base,
            base_currency=base_currency, conversion_note=note,
            positions=[
                {"symbol": symbol, "name": symbol, "quantity": Decimal("1"),
                 "market_value": Decimal(value), "asset_class": asset_class,
                 "market_value_base_currency": Decimal(value)}
                for symbol, asset_class, value in positions
            ],
        )  # fmt: skip


def daily(
    engine: Engine,
    account_id: int,
    first: date,
    last: date,
    start: str,
    step: str,
    currency: str = "EUR",
    rate: str = "1",
) -> None:
    """A snapshot every day from `first` to `last`: start + n * step (base = balance * rate)."""
    day, balance, rows = first, Decimal(start), []
    while day <= last:
        base = (balance * Decimal(rate)).quantize(Decimal("0.0001"))
        rows.append({"account_id": account_id, "snapshot_date": day, "balance": balance,
                     "currency": currency, "snapshot_source": "manual", "base_currency": "EUR",
                     "balance_base_currency": base})  # fmt: skip
        day += timedelta(days=1)
        balance += Decimal(step)
    with engine.begin() as connection:
        connection.execute(insert(account_snapshots), rows)


@dataclass
class World:
    alice: Person  # EUR; three accounts, one waiting for a TAN with an unconverted snapshot
    bob: Person  # CHF; his address is refused by the server
    carol: Person  # did not opt in
    dave: Person  # opted in without any address


def make_world(engine: Engine) -> World:
    """Four people; the marts built through AS_OF."""
    alice = add_person(engine, "alice", email="alice@example.org",
                       report_email="alice.reports@example.org")  # fmt: skip
    giro = open_account(engine, alice, "Giro", broker="dkb")
    depot = open_account(engine, alice, "Depot", broker="ibkr", currency="USD",
                        account_type="brokerage")  # fmt: skip
    savings = open_account(engine, alice, "Sparkonto", currency="CHF", account_type="savings",
                          status="pending_auth", status_message="Approve the login in your app")  # fmt: skip
    daily(engine, giro, date(2025, 11, 1), AS_OF, "2500.00", "3.17")
    for day, balance, base, equity in (
        (date(2026, 3, 2), "10000.00", "9123.4567", "8000.00"),
        (date(2026, 11, 16), "12000.00", "10950.1234", "9950.1234"),
        (date(2026, 11, 24), "12500.50", "11780.9910", "10280.9910"),
    ):
        cash = str(Decimal(base) - Decimal(equity))
        snapshot(engine, depot, day, balance, "USD", base,
                 positions=[("VWRL", "equity", equity), ("USD", "cash", cash)])  # fmt: skip
    snapshot(engine, savings, date(2026, 10, 1), "5000.00", "CHF", "5320.5050")
    snapshot(engine, savings, date(2026, 11, 26), "5100.00", "CHF", None,
             note="no CHF rate within 14 days of 2026-11-26")  # fmt: skip

    bob = add_person(engine, "bob", email="refuse-bob@example.org", base_currency="CHF")
    cash = open_account(engine, bob, "Cash", currency="CHF")
    snapshot(engine, cash, date(2026, 11, 2), "1000.00", "CHF", "1000.00", base_currency="CHF")

    carol = add_person(engine, "carol", email="carol@example.org", enabled=False)
    carol_cash = open_account(engine, carol, "Cash")
    snapshot(engine, carol_cash, date(2026, 11, 2), "10.00", "EUR", "10.00")

    dave = add_person(engine, "dave", enabled=True)
    dave_cash = open_account(engine, dave, "Cash")
    snapshot(engine, dave_cash, date(2026, 11, 2), "20.00", "EUR", "20.00")
    build(engine, AS_OF)
    return World(alice, bob, carol, dave)


@pytest.fixture(name="report_world")
def report_world_fixture(
    warehouse_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> tuple[Engine, World]:
    """`make_world` on each backend, with the settings pointing at it."""
    monkeypatch.setenv("WEALTH_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("WEALTH_DATABASE_URL", warehouse_url)
    monkeypatch.setenv("WEALTH_OUTBOX_DIR", str(tmp_path / "outbox"))
    engine = get_engine(warehouse_url)
    return engine, make_world(engine)


def build(engine: Engine, end_day: date) -> None:
    """The marts through `end_day`, built by the product's own models."""
    build_marts(engine, as_of=end_day, full=True)


def parts(message: EmailMessage) -> tuple[str, str, dict[str, bytes]]:
    """(text, html, {content-id: png bytes}) as a mail client finds them."""
    assert message.get_content_type() == "multipart/alternative"
    text_part, related = message.get_payload()
    assert text_part.get_content_type() == "text/plain"
    assert related.get_content_type() == "multipart/related"
    html_part, *images = related.get_payload()
    assert html_part.get_content_type() == "text/html"
    found = {}
    for image in images:
        assert image.get_content_type() == "image/png"
        found[image["Content-ID"].strip("<>")] = image.get_content()
    return text_part.get_content(), html_part.get_content(), found
