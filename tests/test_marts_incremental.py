"""Per-account rebuilds: a change recorded for one account rebuilds that account's daily rows
and the user-level marts, never the user's other accounts; the result equals a full build.
On SQLite the account model is staged before the write lock is taken. Both databases."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from tests.support.marts import END, D, World, changes, d, make_world, marts
from wealth_pipeline.accounts import remove_account
from wealth_pipeline.marts import build_marts
from wealth_pipeline.marts.build import AccountScope, plan_accounts
from wealth_pipeline.marts.changes import record_account_change, record_mart_change
from wealth_pipeline.snapshots.store import NewSnapshot, write_snapshots
from wealth_pipeline.warehouse.engine import get_engine
from wealth_pipeline.warehouse.schema import mart_account_changes, mart_changes


@pytest.fixture
def world(warehouse_url: str) -> World:
    engine = get_engine(warehouse_url)
    world = make_world(engine)
    build_marts(engine, as_of=END)
    return world


def _full(url: str) -> dict:
    engine = get_engine(url)
    build_marts(engine, as_of=END, full=True)
    return marts(engine)


def _pending(url: str) -> tuple[dict, dict]:
    with get_engine(url).connect() as connection:
        users = {
            row.user_id: (row.earliest_changed_day, row.accounts_only)
            for row in connection.execute(select(mart_changes))
        }
        accounts = {
            row.account_id: row.earliest_changed_day
            for row in connection.execute(select(mart_account_changes))
        }
    return users, accounts


def test_a_snapshot_rebuilds_only_its_account(warehouse_url: str, world: World) -> None:
    engine = get_engine(warehouse_url)
    before = marts(engine)
    with engine.begin() as connection:
        write_snapshots(
            connection, world.giro, [NewSnapshot(d("01-31"), D("120"), "EUR")], source="manual"
        )
    assert _pending(warehouse_url) == (
        {world.alice: (d("01-31"), True)},
        {world.giro: d("01-31")},
    )
    report = build_marts(engine, as_of=END)
    # Giro's 4 days (01-31 .. 02-03) only, not the depot's or Bob's rows
    assert report.rows["mart_account_daily"] == 4
    assert report.from_days == {world.alice: d("01-31")}
    assert _pending(warehouse_url) == ({}, {})
    after = marts(engine)
    others = [r for r in after["mart_account_daily"] if r[2] != world.giro]
    assert others == [r for r in before["mart_account_daily"] if r[2] != world.giro]
    assert after == _full(warehouse_url)


def test_a_user_change_still_rebuilds_every_account(warehouse_url: str, world: World) -> None:
    engine = get_engine(warehouse_url)
    with engine.begin() as connection:
        record_account_change(connection, world.giro, d("02-02"), "one account")
        record_mart_change(connection, world.alice, d("02-03"), "the whole user, later")
    assert _pending(warehouse_url)[0] == {world.alice: (d("02-02"), False)}
    report = build_marts(engine, as_of=END)
    alice_accounts = sum(
        1 for r in marts(engine)["mart_account_daily"] if r[0] == world.alice and r[1] >= d("02-02")
    )
    assert report.rows["mart_account_daily"] == alice_accounts
    assert marts(engine) == _full(warehouse_url)


def test_a_removed_accounts_rows_go(warehouse_url: str, world: World) -> None:
    engine = get_engine(warehouse_url)
    with engine.begin() as connection:
        remove_account(connection, world.alice, world.depot)
    assert _pending(warehouse_url)[1] == {world.depot: d("01-31")}
    build_marts(engine, as_of=END)
    assert not [r for r in marts(engine)["mart_account_daily"] if r[2] == world.depot]
    assert marts(engine) == _full(warehouse_url)


def test_a_deleted_user_takes_the_large_marts_rows_along(warehouse_url: str, world: World) -> None:
    from sqlalchemy import delete

    from wealth_pipeline.warehouse.schema import users

    engine = get_engine(warehouse_url)
    with engine.begin() as connection:
        connection.execute(delete(users).where(users.c.id == world.bob))
    left = marts(engine)
    assert not [r for r in left["mart_account_daily"] if r[0] == world.bob]
    assert not [r for r in left["mart_net_worth_daily"] if r[0] == world.bob]
    assert changes(engine) == {}


def test_plan_accounts() -> None:
    day, later = date(2024, 2, 1), date(2024, 2, 3)
    assert plan_accounts(
        from_days={1: day, 2: day},
        whole_days={2: later},
        accounts=[(10, 1), (11, 1), (20, 2), (21, 2)],
        changed={11: (1, day), 21: (2, day), 99: (1, later), 30: (3, day)},
    ) == [
        AccountScope(11, 1, day),  # its own change
        AccountScope(20, 2, later),  # every account of user 2 from its day
        AccountScope(21, 2, day),  # earlier by its own change
        AccountScope(99, 1, later),  # removed since: its rows go
    ]  # account 10 unchanged; user 3 not built now
