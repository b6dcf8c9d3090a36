"""History backfill: only missing days, never over manual or imported snapshots (even with
overwrite), auto ones replaced when asked, converted where rates exist, credentials opened
only with the owner's key and never in messages; on SQLite and PostgreSQL."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from tests.support import factories
from tests.support.factories import CHEAP
from tests.support.history import (
    HISTORY_SECRET,
    demo,
    demo_account,
    history_fake_account,
)
from wealth_pipeline.accounts import Owner
from wealth_pipeline.brokers.base import BalanceInfo
from wealth_pipeline.history.backfill import (
    HistoryError,
    backfill_history,
    daily_balances,
    history_codes,
    plan,
    window,
)
from wealth_pipeline.security.vault import create_user, unlock
from wealth_pipeline.snapshots.store import NewSnapshot, write_snapshots
from wealth_pipeline.warehouse.engine import get_engine
from wealth_pipeline.warehouse.schema import account_snapshots, mart_changes, portfolio_positions

TODAY = date(2024, 2, 29)  # inside the ECB sample's window 2023-12-20 .. 2024-04-10
DAYS = 30
START = TODAY - timedelta(days=DAYS - 1)


# --- pure pieces ----------------------------------------------------------------------------


def test_window_counts_today() -> None:
    assert window(TODAY, 30) == (START, TODAY)
    assert window(TODAY, 1) == (TODAY, TODAY)
    with pytest.raises(HistoryError):
        window(TODAY, 0)


def test_plan_writes_missing_and_replaces_only_auto() -> None:
    days = [date(2024, 1, d) for d in range(1, 6)]
    existing = {days[1]: "auto", days[2]: "manual", days[3]: "import"}
    kept = plan(days, existing, overwrite=False)
    assert kept.write == [days[0], days[4]] and kept.kept == [days[1]]
    assert kept.protected == [days[2], days[3]] and kept.replace == []
    replaced = plan(days, existing, overwrite=True)
    assert replaced.write == [days[0], days[1], days[4]] and replaced.replace == [days[1]]
    assert replaced.protected == [days[2], days[3]]


def test_daily_balances_keeps_the_window_only() -> None:
    answer = [
        BalanceInfo(Decimal(n), "EUR", date(2024, 1, 1) + timedelta(days=n)) for n in range(10)
    ]
    kept = daily_balances(answer, date(2024, 1, 3), date(2024, 1, 5))
    assert sorted(kept) == [date(2024, 1, 3), date(2024, 1, 4), date(2024, 1, 5)]


def test_history_brokers() -> None:
    assert {"ibkr", "truewealth", "viac", "demo"} <= history_codes()
    assert not {"dkb", "commerzbank", "morganstanley", "manual"} & history_codes()


# --- against the warehouse --------------------------------------------------------------------


@pytest.fixture
def warehouse(warehouse_url: str):
    engine = get_engine(warehouse_url)
    with engine.begin() as connection:
        factories.ecb_rates(connection, date(2023, 12, 20), date(2024, 4, 10))
    with engine.begin() as connection:
        owner = factories.user(connection, "alice", "EUR")
        brokerage = demo_account(connection, owner, demo.BROKERAGE)
    return engine, owner, brokerage


def rows(engine, account_id: int) -> dict:
    with engine.connect() as connection:
        found = connection.execute(
            select(account_snapshots).where(account_snapshots.c.account_id == account_id)
        ).all()
    return {row.snapshot_date: row for row in found}


def write(engine, account_id: int, day: date, balance: str, source: str) -> None:
    with engine.begin() as connection:
        write_snapshots(
            connection,
            account_id,
            [NewSnapshot(day=day, balance=Decimal(balance), currency="USD")],
            source=source,
        )


def test_fills_the_missing_days_converted(warehouse) -> None:
    engine, _owner, account = warehouse
    report = backfill_history(engine, account, days=DAYS, today=TODAY, with_positions=True)
    assert (report.start, report.end, report.fetched, report.written) == (START, TODAY, 30, 30)
    stored = rows(engine, account)
    assert sorted(stored) == [START + timedelta(days=n) for n in range(DAYS)]
    expected = demo.balance_on(demo.BROKERAGE, TODAY).balance
    assert stored[TODAY].balance == expected and stored[TODAY].snapshot_source == "auto"
    # converted into EUR with the lookup's rate, weekends with Friday's rate
    assert report.converted == 30 and not report.unconverted
    assert all(row.base_currency == "EUR" for row in stored.values())
    saturday = date(2024, 2, 24)
    assert stored[saturday].rate_date == date(2024, 2, 23)
    assert stored[saturday].balance_base_currency is not None
    # the positions of the last day, converted too
    with engine.connect() as connection:
        positions = connection.execute(
            select(portfolio_positions).where(portfolio_positions.c.snapshot_id == stored[TODAY].id)
        ).all()
        change = connection.execute(select(mart_changes.c.earliest_changed_day)).scalar()
    assert len(positions) == report.positions == 4
    assert all(p.market_value_base_currency is not None for p in positions)
    assert change == START
    # again: nothing missing, nothing written
    again = backfill_history(engine, account, days=DAYS, today=TODAY)
    assert (again.written, again.kept) == (0, 30)
    assert {d: r.id for d, r in rows(engine, account).items()} == {
        d: r.id for d, r in stored.items()
    }


def test_only_missing_days_and_never_over_manual_or_import(warehouse) -> None:
    engine, _owner, account = warehouse
    auto_day, manual_day, import_day = START + timedelta(days=3), TODAY, START
    write(engine, account, auto_day, "1.0000", "auto")
    write(engine, account, manual_day, "2.0000", "manual")
    write(engine, account, import_day, "3.0000", "import")

    report = backfill_history(engine, account, days=DAYS, today=TODAY)
    assert (report.written, report.kept) == (27, 1)
    assert report.protected == [import_day, manual_day]
    stored = rows(engine, account)
    assert len(stored) == DAYS
    assert stored[auto_day].balance == Decimal("1.0000")

    overwritten = backfill_history(engine, account, days=DAYS, today=TODAY, overwrite=True)
    assert (overwritten.written, overwritten.replaced) == (28, 28)
    assert overwritten.protected == [import_day, manual_day]
    stored = rows(engine, account)
    assert stored[auto_day].balance == demo.balance_on(demo.BROKERAGE, auto_day).balance
    assert (stored[manual_day].balance, stored[manual_day].snapshot_source) == (
        Decimal("2.0000"),
        "manual",
    )
    assert (stored[import_day].balance, stored[import_day].snapshot_source) == (
        Decimal("3.0000"),
        "import",
    )


def test_days_without_rates_stay_unconverted_with_a_reason(warehouse) -> None:
    engine, _owner, account = warehouse
    # The sample's rates end on 2024-04-10: the lookup reaches 14 days back, no further.
    report = backfill_history(engine, account, days=30, today=date(2024, 4, 30))
    assert report.written == 30
    assert sorted(report.unconverted) == [date(2024, 4, 25) + timedelta(days=n) for n in range(6)]
    stored = rows(engine, account)
    assert stored[date(2024, 4, 24)].balance_base_currency is not None
    assert stored[date(2024, 4, 30)].balance_base_currency is None
    assert stored[date(2024, 4, 30)].exchange_rate_used is None


def test_a_broker_without_history_is_refused(warehouse) -> None:
    engine, owner, _account = warehouse
    with engine.begin() as connection:
        giro = factories.account(connection, owner.id, "dkb", "Giro")
    with pytest.raises(HistoryError, match="delivers no history"):
        backfill_history(engine, giro, today=TODAY)
    with pytest.raises(HistoryError, match="no such account"):
        backfill_history(engine, 999_999, today=TODAY)


def test_credentials_need_the_owners_key_and_never_leak(warehouse_url: str) -> None:
    engine = get_engine(warehouse_url)
    with engine.begin() as connection:
        user_id = create_user(connection, "carol", "carol's password", params=CHEAP)
    with engine.connect() as connection:
        unlocked = unlock(connection, "carol", "carol's password")
    owner = Owner(user_id, "carol", "EUR")
    with engine.begin() as connection:
        account = history_fake_account(connection, owner, unlocked)
        wrong = history_fake_account(
            connection, owner, unlocked, token="wrong-token-271828", name="Old"
        )

    with pytest.raises(HistoryError, match="owner's key is needed"):
        backfill_history(engine, account, today=TODAY)
    report = backfill_history(engine, account, today=TODAY, unlock=unlocked)
    assert report.fetched == 60 and report.written == 60  # as far as the broker reaches
    assert report.unconverted == {}  # EUR into EUR needs no rate
    with engine.connect() as connection:
        raw = (
            connection.execute(
                select(account_snapshots.c.raw_data).where(
                    account_snapshots.c.account_id == account
                )
            )
            .scalars()
            .all()
        )
        count = connection.execute(
            select(func.count()).where(account_snapshots.c.account_id == wrong)
        ).scalar_one()
    assert HISTORY_SECRET not in repr(raw)

    with pytest.raises(HistoryError) as failed:
        backfill_history(engine, wrong, today=TODAY, unlock=lambda _c, _u: unlocked)
    assert "wrong-token-271828" not in str(failed.value) and "[redacted]" in str(failed.value)
    assert count == 0
