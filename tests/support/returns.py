"""Building small worlds for the returns tests: users, accounts, snapshots written by the one
snapshot writer (converted by the shared rate lookup), flows by the flows store."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import Engine

from tests.support import factories
from wealth_pipeline.flows.store import NewFlow, write_flows
from wealth_pipeline.marts.build import build_marts
from wealth_pipeline.snapshots.store import NewSnapshot, write_snapshots


def add_rates(engine: Engine, currency: str, rates: dict[date, str]) -> None:
    with engine.begin() as c:
        factories.rates(c, {day: {currency: rate} for day, rate in rates.items()})


def setup_user(engine: Engine, name: str = "alice", base: str = "EUR") -> tuple[int, str]:
    """A user and a bank of their own: (user id, broker code)."""
    with engine.begin() as c:
        code = f"bank-{name}"
        factories.broker(c, code, "Bank")
        return factories.user(c, name, base).id, code


def account(engine: Engine, user: int, broker: str, name: str, currency: str = "EUR") -> int:
    with engine.begin() as c:
        return factories.account(c, user, broker, name, kind="brokerage", currency=currency)


def values(engine: Engine, account_id: int, currency: str, by_day: dict[date, str]) -> None:
    with engine.begin() as c:
        write_snapshots(
            c,
            account_id,
            [NewSnapshot(day, Decimal(v), currency) for day, v in sorted(by_day.items())],
            source="manual",
            replace=True,
        )


def flows(
    engine: Engine,
    account_id: int,
    items: list[tuple[date, str, str]],
    covered: tuple[date, date] | None,
) -> None:
    with engine.begin() as c:
        write_flows(
            c,
            account_id,
            [NewFlow(day, Decimal(amount), kind) for day, amount, kind in items],
            source="manual",
            covered=covered,
        )


def build(engine: Engine, end: date) -> None:
    build_marts(engine, as_of=end)
