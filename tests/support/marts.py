"""A small fixed warehouse for the mart tests, with hand-checked expected rows.

alice (base EUR):
- Giro (checking, EUR, at Bank): 100.00 on 01-30, 150.00 on 02-02.
- Depot (brokerage, USD, at Broker): 900 USD = 810 EUR on 01-31 (an older position, to be
  ignored); 1000 USD = 900 EUR on 02-01 with VWCE (ISIN) 2 = 720 EUR and AAPL (symbol only)
  1 = 90 EUR.
- Swiss (brokerage, CHF, at Broker): 800 CHF = 840 EUR on 02-02 with VWCE.SW (same ISIN)
  1 = 210 EUR, AAPL 2 = 199.50 EUR and a gold bar (name only) 1 = 315 EUR.
- Pounds (savings, GBP, at Bank): 50 GBP on 02-01, unconverted.
bob (base CHF): Cash (checking, USD) 100 USD = 90 CHF on 02-01 holding ISIN US0000000001
(50 USD = 45 CHF); Yen (brokerage, JPY) 1000 JPY unconverted on 02-01 holding the same ISIN,
unconverted.
All in 2024; the marts' end day is 2024-02-03.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, select

from tests.support import factories
from wealth_pipeline.warehouse.schema import (
    mart_account_daily,
    mart_breakdowns,
    mart_builds,
    mart_changes,
    mart_holdings,
    mart_net_worth_daily,
    mart_net_worth_monthly,
    mart_returns_daily,
)

END = date(2024, 2, 3)
MARTS = (
    mart_account_daily,
    mart_net_worth_daily,
    mart_net_worth_monthly,
    mart_breakdowns,
    mart_holdings,
    mart_returns_daily,
)


def d(text: str) -> date:
    return date.fromisoformat(f"2024-{text}")


def D(text: str) -> Decimal:
    return Decimal(text)


@dataclass
class World:
    alice: int
    bob: int
    giro: int
    depot: int
    swiss: int
    pounds: int
    cash: int
    yen: int


def holding(
    isin: str | None,
    symbol: str,
    name: str,
    asset_class: str,
    quantity: str,
    value: str | None,
    price: str | None,
) -> dict[str, Any]:
    """A position's columns: its base value and price given (None: unconverted)."""
    return {
        "isin": isin, "symbol": symbol, "name": name, "asset_class": asset_class,
        "quantity": D(quantity), "market_value": D(value or "1"),
        "market_value_base_currency": None if value is None else D(value),
        "price_base_currency": None if price is None else D(price),
    }  # fmt: skip


VWCE = "IE00BK5BQT80"


def make_world(engine: Engine) -> World:
    with engine.begin() as c:
        alice, bob = factories.user(c, "alice", "EUR").id, factories.user(c, "bob", "CHF").id
        factories.broker(c, "bank", "Bank")
        factories.broker(c, "broker", "Broker")

        def account(user: int, broker: str, name: str, kind: str, currency: str) -> int:
            return factories.account(c, user, broker, name, kind=kind, currency=currency)

        w = World(
            alice=alice,
            bob=bob,
            giro=account(alice, "bank", "Giro", "checking", "EUR"),
            depot=account(alice, "broker", "Depot", "brokerage", "USD"),
            swiss=account(alice, "broker", "Swiss", "brokerage", "CHF"),
            pounds=account(alice, "bank", "Pounds", "savings", "GBP"),
            cash=account(bob, "bank", "Cash", "checking", "USD"),
            yen=account(bob, "broker", "Yen", "brokerage", "JPY"),
        )
        eur = {"base_currency": "EUR"}
        factories.snapshot(c, w.giro, d("01-30"), "100", "EUR", base="100", **eur)
        factories.snapshot(c, w.giro, d("02-02"), "150", "EUR", base="150", **eur)
        factories.snapshot(
            c, w.depot, d("01-31"), "900", "USD", base="810", **eur,
            positions=[holding(VWCE, "VWCE", "Vanguard FTSE All-World", "fund", "10", "810", "81")],
        )  # fmt: skip
        factories.snapshot(
            c, w.depot, d("02-01"), "1000", "USD", base="900", **eur,
            positions=[
                holding(VWCE, "VWCE", "Vanguard FTSE All-World", "fund", "2", "720", "360"),
                holding(None, "AAPL", "Apple", "equity", "1", "90", "90"),
            ],
        )  # fmt: skip
        factories.snapshot(
            c, w.swiss, d("02-02"), "800", "CHF", base="840", **eur,
            positions=[
                holding(VWCE, "VWCE.SW", "Vanguard FTSE All-World", "fund", "1", "210", "210"),
                holding("", "AAPL", "Apple", "equity", "2", "199.5", "99.75"),
                holding(None, "", "Gold bar", "commodity", "1", "315", "315"),
            ],
        )  # fmt: skip
        factories.snapshot(c, w.pounds, d("02-01"), "50", "GBP")
        factories.snapshot(
            c, w.cash, d("02-01"), "100", "USD", base="90", base_currency="CHF",
            positions=[holding("US0000000001", "X", "X Corp", "equity", "5", "45", "9")],
        )  # fmt: skip
        factories.snapshot(
            c, w.yen, d("02-01"), "1000", "JPY",
            positions=[holding("US0000000001", "X", "X Corp", "equity", "3", None, None)],
        )  # fmt: skip
    return w


def rows(engine: Engine, table: Any) -> list[tuple[Any, ...]]:
    """All rows of `table` in primary-key order."""
    with engine.connect() as connection:
        return [
            tuple(row)
            for row in connection.execute(select(table).order_by(*table.primary_key.columns))
        ]


def marts(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    return {table.name: rows(engine, table) for table in MARTS}


def changes(engine: Engine) -> dict[int, date]:
    with engine.connect() as connection:
        return dict(
            connection.execute(
                select(mart_changes.c.user_id, mart_changes.c.earliest_changed_day)
            ).all()
        )


def built_through(engine: Engine) -> set[date]:
    with engine.connect() as connection:
        return set(connection.execute(select(mart_builds.c.built_through)).scalars())
