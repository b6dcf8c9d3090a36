"""Building small worlds for the returns tests: users, accounts, snapshots written by the one
snapshot writer (converted by the shared rate lookup), flows by the flows store."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import Engine, insert

from tests.marts_support import add_account, add_broker, add_user
from wealth_pipeline.flows.store import NewFlow, write_flows
from wealth_pipeline.marts.build import build_marts
from wealth_pipeline.snapshots.store import NewSnapshot, write_snapshots
from wealth_pipeline.warehouse.schema import exchange_rates


def add_rates(engine: Engine, currency: str, rates: dict[date, str]) -> None:
    with engine.begin() as c:
        c.execute(
            insert(exchange_rates),
            [
                {
                    "rate_date": day,
                    "base_currency": "EUR",
                    "quote_currency": currency,
                    "rate": Decimal(rate),
                    "source": "test",
                }
                for day, rate in rates.items()
            ],
        )


def setup_user(engine: Engine, name: str = "alice", base: str = "EUR") -> tuple[int, int]:
    with engine.begin() as c:
        return add_user(c, name, base), add_broker(c, f"bank-{name}", "Bank")


def account(engine: Engine, user: int, broker: int, name: str, currency: str = "EUR") -> int:
    with engine.begin() as c:
        return add_account(c, user, broker, name, "brokerage", currency)


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
