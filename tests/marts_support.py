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

from sqlalchemy import Connection, Engine, insert, select

from wealth_pipeline.warehouse.schema import (
    account_snapshots,
    brokers,
    financial_accounts,
    mart_account_daily,
    mart_breakdowns,
    mart_builds,
    mart_changes,
    mart_holdings,
    mart_net_worth_daily,
    mart_net_worth_monthly,
    portfolio_positions,
    profiles,
    users,
)

END = date(2024, 2, 3)
MARTS = (
    mart_account_daily,
    mart_net_worth_daily,
    mart_net_worth_monthly,
    mart_breakdowns,
    mart_holdings,
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


def add_user(connection: Connection, name: str, base: str) -> int:
    user_id = connection.execute(
        insert(users).values(username=name).returning(users.c.id)
    ).scalar_one()
    connection.execute(insert(profiles).values(user_id=user_id, base_currency=base))
    return user_id


def add_broker(connection: Connection, code: str, name: str) -> int:
    return connection.execute(
        insert(brokers)
        .values(code=code, name=name, integration_type="manual", credential_schema={})
        .returning(brokers.c.id)
    ).scalar_one()


def add_account(
    connection: Connection, user_id: int, broker_id: int, name: str, kind: str, currency: str
) -> int:
    return connection.execute(
        insert(financial_accounts)
        .values(
            user_id=user_id,
            broker_id=broker_id,
            name=name,
            account_type=kind,
            currency=currency,
            is_manual=True,
        )
        .returning(financial_accounts.c.id)
    ).scalar_one()


def snapshot(
    connection: Connection,
    account_id: int,
    day: date,
    balance: str,
    currency: str,
    base: str | None,
    base_currency: str | None = "EUR",
    positions: tuple[tuple[Any, ...], ...] = (),
) -> int:
    """A stored snapshot with its conversion given; positions as (isin, symbol, name,
    asset_class, quantity, base value, base price)."""
    snapshot_id = connection.execute(
        insert(account_snapshots)
        .values(
            account_id=account_id,
            snapshot_date=day,
            balance=D(balance),
            currency=currency,
            base_currency=None if base is None else base_currency,
            balance_base_currency=None if base is None else D(base),
            snapshot_source="manual",
        )
        .returning(account_snapshots.c.id)
    ).scalar_one()
    for isin, symbol, name, asset_class, quantity, value, price in positions:
        connection.execute(
            insert(portfolio_positions).values(
                snapshot_id=snapshot_id,
                isin=isin,
                symbol=symbol,
                name=name,
                asset_class=asset_class,
                quantity=D(quantity),
                market_value=D(value or "1"),
                currency=currency,
                market_value_base_currency=None if value is None else D(value),
                price_base_currency=None if price is None else D(price),
            )
        )
    return snapshot_id


VWCE = "IE00BK5BQT80"


def make_world(engine: Engine) -> World:
    with engine.begin() as c:
        alice, bob = add_user(c, "alice", "EUR"), add_user(c, "bob", "CHF")
        bank, broker = add_broker(c, "bank", "Bank"), add_broker(c, "broker", "Broker")
        w = World(
            alice=alice,
            bob=bob,
            giro=add_account(c, alice, bank, "Giro", "checking", "EUR"),
            depot=add_account(c, alice, broker, "Depot", "brokerage", "USD"),
            swiss=add_account(c, alice, broker, "Swiss", "brokerage", "CHF"),
            pounds=add_account(c, alice, bank, "Pounds", "savings", "GBP"),
            cash=add_account(c, bob, bank, "Cash", "checking", "USD"),
            yen=add_account(c, bob, broker, "Yen", "brokerage", "JPY"),
        )
        snapshot(c, w.giro, d("01-30"), "100", "EUR", "100")
        snapshot(c, w.giro, d("02-02"), "150", "EUR", "150")
        snapshot(
            c,
            w.depot,
            d("01-31"),
            "900",
            "USD",
            "810",
            positions=((VWCE, "VWCE", "Vanguard FTSE All-World", "fund", "10", "810", "81"),),
        )
        snapshot(
            c,
            w.depot,
            d("02-01"),
            "1000",
            "USD",
            "900",
            positions=(
                (VWCE, "VWCE", "Vanguard FTSE All-World", "fund", "2", "720", "360"),
                (None, "AAPL", "Apple", "equity", "1", "90", "90"),
            ),
        )
        snapshot(
            c,
            w.swiss,
            d("02-02"),
            "800",
            "CHF",
            "840",
            positions=(
                (VWCE, "VWCE.SW", "Vanguard FTSE All-World", "fund", "1", "210", "210"),
                ("", "AAPL", "Apple", "equity", "2", "199.5", "99.75"),
                (None, "", "Gold bar", "commodity", "1", "315", "315"),
            ),
        )
        snapshot(c, w.pounds, d("02-01"), "50", "GBP", None)
        snapshot(
            c,
            w.cash,
            d("02-01"),
            "100",
            "USD",
            "90",
            base_currency="CHF",
            positions=(("US0000000001", "X", "X Corp", "equity", "5", "45", "9"),),
        )
        snapshot(
            c,
            w.yen,
            d("02-01"),
            "1000",
            "JPY",
            None,
            positions=(("US0000000001", "X", "X Corp", "equity", "3", None, None),),
        )
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
