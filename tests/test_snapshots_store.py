"""Writing snapshots: exact conversion into the owner's base currency when a rate exists,
NULL with the reason when not; replace only when asked; raw data redacted; the earliest
changed day recorded for the marts."""

from datetime import date
from decimal import Decimal
from fractions import Fraction

import pytest
from sqlalchemy import Connection, insert, select, update

from tests.support import factories
from wealth_pipeline import money
from wealth_pipeline.accounts import Owner, remove_account
from wealth_pipeline.brokers.catalogue import load_catalogue
from wealth_pipeline.marts.changes import record_mart_change
from wealth_pipeline.snapshots.store import (
    NewSnapshot,
    SnapshotError,
    SnapshotExists,
    write_snapshot,
    write_snapshots,
)
from wealth_pipeline.warehouse.engine import get_engine
from wealth_pipeline.warehouse.schema import (
    account_snapshots,
    exchange_rates,
    mart_changes,
    portfolio_positions,
    profiles,
)

USD_PER_EUR = {date(2024, 1, 5): Decimal("1.0921"), date(2024, 1, 8): Decimal("1.0946")}
CHF_PER_EUR = {date(2024, 1, 5): Decimal("0.9318"), date(2024, 1, 8): Decimal("0.9305")}


def make_account(connection: Connection, owner: Owner, currency: str, code: str = "manual") -> int:
    """A savings account at `code` (a FinTS bank's with stand-in sealed credentials)."""
    return factories.account(
        connection, owner, code, f"{code} {currency}", kind="savings", currency=currency,
        **({"encrypted_credentials": b"sealed"} if code == "dkb" else {}),
    )  # fmt: skip


def load_rates(connection: Connection) -> None:
    rows = [
        {"rate_date": day, "quote_currency": code, "rate": rate, "source": "test"}
        for code, series in (("USD", USD_PER_EUR), ("CHF", CHF_PER_EUR))
        for day, rate in series.items()
    ]
    connection.execute(insert(exchange_rates), rows)


@pytest.fixture
def setup(warehouse_url: str):
    engine = get_engine(warehouse_url)
    with engine.begin() as connection:
        load_catalogue(connection)
        owner = factories.user(connection, "alice", "CHF")
        account = make_account(connection, owner, "USD")
    return engine, owner, account


def stored_rows(connection: Connection, account_id: int):
    return connection.execute(
        select(account_snapshots)
        .where(account_snapshots.c.account_id == account_id)
        .order_by(account_snapshots.c.snapshot_date)
    ).all()


def test_conversion_is_stored_exactly_when_rates_exist(setup) -> None:
    engine, _owner, account = setup
    with engine.begin() as connection:
        load_rates(connection)
        written = write_snapshots(
            connection,
            account,
            [
                NewSnapshot(date(2024, 1, 5), Decimal("1234.5678"), "USD"),
                NewSnapshot(date(2024, 1, 7), Decimal("-10.0001"), "USD"),  # Sunday: Friday's
            ],
            source="manual",
        )
    friday = date(2024, 1, 5)
    cross = money.quantize(
        Fraction(CHF_PER_EUR[friday]) / Fraction(USD_PER_EUR[friday]), money.RATE_PLACES
    )
    expected = [
        money.quantize(Fraction(Decimal("1234.5678")) * Fraction(cross), 4),
        money.quantize(Fraction(Decimal("-10.0001")) * Fraction(cross), 4),
    ]
    with engine.connect() as connection:
        rows = stored_rows(connection, account)
    assert [row.balance_base_currency for row in rows] == expected
    assert [row.exchange_rate_used for row in rows] == [cross, cross]
    assert [row.rate_date for row in rows] == [friday, friday]
    assert {row.base_currency for row in rows} == {"CHF"}
    assert {row.snapshot_source for row in rows} == {"manual"}
    assert [w.balance_base_currency for w in written] == expected
    assert all(w.no_rate_reason is None for w in written)


def test_same_currency_converts_at_one_without_rates(setup) -> None:
    engine, owner, _account = setup
    with engine.begin() as connection:
        chf = make_account(connection, owner, "CHF")
        stored = write_snapshot(
            connection, chf, NewSnapshot(date(2024, 1, 5), Decimal("5.5"), "CHF"), source="manual"
        )
    assert stored.balance_base_currency == Decimal("5.5") and stored.exchange_rate_used == 1


def test_no_rate_leaves_the_conversion_null_with_the_reason(setup) -> None:
    engine, _owner, account = setup
    with engine.begin() as connection:
        stored = write_snapshot(
            connection,
            account,
            NewSnapshot(date(2024, 1, 5), Decimal("100"), "USD"),
            source="import",
        )
    assert stored.balance_base_currency is None
    assert "no USD rates are loaded" in (stored.no_rate_reason or "")
    with engine.connect() as connection:
        (row,) = stored_rows(connection, account)
    assert (
        row.base_currency,
        row.balance_base_currency,
        row.exchange_rate_used,
        row.rate_date,
    ) == (
        None,
        None,
        None,
        None,
    )
    assert row.balance == Decimal("100")


def test_an_existing_day_is_replaced_only_when_asked(setup) -> None:
    engine, _owner, account = setup
    day = date(2024, 1, 5)
    with engine.begin() as connection:
        first = write_snapshot(
            connection, account, NewSnapshot(day, Decimal(1), "USD"), source="manual"
        )
        connection.execute(
            insert(portfolio_positions).values(
                snapshot_id=first.id, quantity=Decimal(1), market_value=Decimal(1), currency="USD"
            )
        )
    with (
        pytest.raises(SnapshotExists, match="already has a snapshot on 2024-01-05"),
        engine.begin() as connection,
    ):
        write_snapshots(
            connection,
            account,
            [
                NewSnapshot(date(2024, 1, 4), Decimal(9), "USD"),
                NewSnapshot(day, Decimal(2), "USD"),
            ],
            source="import",
        )
    with engine.connect() as connection:
        assert [row.balance for row in stored_rows(connection, account)] == [Decimal(1)]
    with engine.begin() as connection:
        again = write_snapshot(
            connection, account, NewSnapshot(day, Decimal(2), "USD"), source="import", replace=True
        )
    assert again.replaced
    with engine.connect() as connection:
        rows = stored_rows(connection, account)
        positions = connection.execute(select(portfolio_positions)).all()
    assert [(row.balance, row.snapshot_source) for row in rows] == [(Decimal(2), "import")]
    assert positions == []  # they described the replaced balance


def test_values_are_refused_not_rounded(setup) -> None:
    engine, _owner, account = setup
    with engine.begin() as connection:
        with pytest.raises(SnapshotError, match="more than 4 decimal places"):
            write_snapshot(
                connection,
                account,
                NewSnapshot(date(2024, 1, 5), Decimal("1.00001"), "USD"),
                source="manual",
            )
        with pytest.raises(SnapshotError, match="one per account and day"):
            write_snapshots(
                connection,
                account,
                [NewSnapshot(date(2024, 1, 5), Decimal(1), "USD")] * 2,
                source="manual",
            )
        with pytest.raises(SnapshotError, match="source must be one of"):
            write_snapshot(
                connection, account, NewSnapshot(date(2024, 1, 5), Decimal(1), "USD"), source="x"
            )


def test_raw_data_is_stored_without_secrets(setup) -> None:
    engine, owner, _account = setup
    with engine.begin() as connection:
        dkb = make_account(connection, owner, "EUR", code="dkb")
        write_snapshot(
            connection,
            dkb,
            NewSnapshot(
                date(2024, 1, 5),
                Decimal("3.5"),
                "EUR",
                raw_data={
                    "balance": Decimal("3.50"),
                    "day": date(2024, 1, 5),
                    "pin": "4711",
                    "dialog": {"session_id": "s", "echo": "user 4711-PIN-4711"},
                },
            ),
            source="auto",
            secret_values=["4711-PIN-4711"],
        )
        raw = connection.execute(
            select(account_snapshots.c.raw_data).where(account_snapshots.c.account_id == dkb)
        ).scalar_one()
    assert raw == {"balance": "3.50", "day": "2024-01-05", "dialog": {"echo": "[redacted]"}}


def test_the_earliest_changed_day_is_kept_per_user(setup) -> None:
    engine, owner, account = setup
    with engine.begin() as connection:
        bob = factories.user(connection, "bob", "EUR")
        bob_account = make_account(connection, bob, "EUR")
        write_snapshot(
            connection, account, NewSnapshot(date(2024, 3, 1), Decimal(1), "USD"), source="manual"
        )
        write_snapshots(
            connection,
            account,
            [
                NewSnapshot(date(2024, 2, 1), Decimal(1), "USD"),
                NewSnapshot(date(2024, 4, 1), Decimal(1), "USD"),
            ],
            source="import",
        )
        write_snapshot(
            connection, account, NewSnapshot(date(2024, 5, 1), Decimal(1), "USD"), source="manual"
        )
        write_snapshot(
            connection,
            bob_account,
            NewSnapshot(date(2024, 6, 1), Decimal(1), "EUR"),
            source="manual",
        )
    with engine.connect() as connection:
        changes = {
            row.user_id: (row.earliest_changed_day, row.reason)
            for row in connection.execute(select(mart_changes))
        }
    assert changes[owner.id] == (date(2024, 2, 1), f"2 import snapshot(s) of account {account}")
    assert changes[bob.id][0] == date(2024, 6, 1)
    # The marts consumed the change (row deleted); removing the account records it again.
    with engine.begin() as connection:
        connection.execute(mart_changes.delete())
        assert remove_account(connection, owner.id, account) == 4
        record_mart_change(connection, bob.id, date(2024, 7, 1), "later")
        changes = dict(
            connection.execute(
                select(mart_changes.c.user_id, mart_changes.c.earliest_changed_day)
            ).all()
        )
    assert changes == {owner.id: date(2024, 2, 1), bob.id: date(2024, 7, 1)}


def test_base_currency_comes_from_the_profile(setup) -> None:
    engine, owner, account = setup
    with engine.begin() as connection:
        load_rates(connection)
        connection.execute(
            update(profiles).where(profiles.c.user_id == owner.id).values(base_currency="EUR")
        )
        stored = write_snapshot(
            connection,
            account,
            NewSnapshot(date(2024, 1, 8), Decimal("1094.6"), "USD"),
            source="manual",
        )
    assert (stored.base_currency, stored.balance_base_currency) == ("EUR", Decimal("1000.0000"))
