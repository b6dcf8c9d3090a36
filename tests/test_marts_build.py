"""How the marts are built: incrementally from the earliest changed day, idempotent, in one
transaction, consuming recorded changes only on success; on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select, update

from tests.support import factories
from tests.support.marts import (
    END,
    D,
    World,
    built_through,
    changes,
    d,
    holding,
    make_world,
    marts,
    rows,
)
from tests.support.marts import (
    VWCE as VWCE_ISIN,
)
from wealth_pipeline.accounts import remove_account
from wealth_pipeline.marts import MartsError, build_marts
from wealth_pipeline.marts.build import BEGINNING, _consume, _read_changes, plan_scope
from wealth_pipeline.marts.changes import record_mart_change
from wealth_pipeline.marts.models import default_models
from wealth_pipeline.profiles import update_profile
from wealth_pipeline.snapshots.store import NewSnapshot, write_snapshots
from wealth_pipeline.warehouse.engine import get_engine
from wealth_pipeline.warehouse.schema import (
    account_snapshots,
    financial_accounts,
    mart_account_daily,
    mart_breakdowns,
    mart_builds,
    mart_changes,
    mart_holdings,
    mart_net_worth_daily,
    portfolio_positions,
)


@pytest.fixture
def world(warehouse_url: str) -> World:
    engine = get_engine(warehouse_url)
    world = make_world(engine)
    build_marts(engine, as_of=END)
    return world


def full_rebuild(url: str) -> dict[str, list[tuple]]:
    """The marts as a from-scratch build makes them (then the incremental ones are restored)."""
    engine = get_engine(url)
    build_marts(engine, as_of=END, full=True)
    return marts(engine)


def net_worth(url: str, user: int) -> dict:
    table = mart_net_worth_daily
    return {day: total for u, day, _, total, _, _ in rows(get_engine(url), table) if u == user}


def test_a_back_dated_snapshot_changes_every_later_day(warehouse_url: str, world: World) -> None:
    engine = get_engine(warehouse_url)
    before = marts(engine)
    with engine.begin() as connection:  # the snapshot writer records the change
        write_snapshots(
            connection, world.giro, [NewSnapshot(d("01-31"), D("120"), "EUR")], source="manual"
        )
    assert changes(engine) == {world.alice: d("01-31")}

    report = build_marts(engine, as_of=END)
    assert report.from_days == {world.alice: d("01-31")}  # bob untouched
    assert report.changes_consumed == 1 and changes(engine) == {}
    assert net_worth(warehouse_url, world.alice) == {
        d("01-30"): D("100"),
        d("01-31"): D("930"),  # 120 + 810
        d("02-01"): D("1020"),  # 120 + 900: carried forward from the new snapshot
        d("02-02"): D("1890"),  # Giro's own 150 from here on
        d("02-03"): D("1890"),
    }
    after = marts(engine)
    assert after != before
    assert [r for r in after["mart_account_daily"] if r[0] == world.bob] == [
        r for r in before["mart_account_daily"] if r[0] == world.bob
    ]
    assert after == full_rebuild(warehouse_url)  # incremental equals from scratch


def test_a_correction_far_back_rebuilds_from_there(warehouse_url: str, world: World) -> None:
    engine = get_engine(warehouse_url)
    with engine.begin() as connection:
        write_snapshots(
            connection,
            world.depot,
            [NewSnapshot(d("01-31"), D("950"), "EUR")],  # replaced, now in EUR
            source="manual",
            replace=True,
        )
    report = build_marts(engine, as_of=END)
    assert report.from_days == {world.alice: d("01-31")}
    assert net_worth(warehouse_url, world.alice)[d("01-31")] == D("1050")
    assert marts(engine) == full_rebuild(warehouse_url)


def test_rebuilding_is_idempotent(warehouse_url: str, world: World) -> None:
    engine = get_engine(warehouse_url)
    first = marts(engine)
    again = build_marts(engine, as_of=END)
    assert again.from_days == {} and set(again.rows.values()) == {0}
    assert marts(engine) == first
    full = build_marts(engine, as_of=END, full=True)
    assert full.from_days.keys() == {world.alice, world.bob}
    assert full.rows["mart_account_daily"] == len(first["mart_account_daily"])
    assert marts(engine) == first
    with engine.begin() as connection:
        record_mart_change(connection, world.alice, d("02-02"), "nothing really changed")
    assert build_marts(engine, as_of=END).from_days == {world.alice: d("02-02")}
    assert marts(engine) == first


def test_the_day_advancing_extends_every_user(warehouse_url: str, world: World) -> None:
    engine = get_engine(warehouse_url)
    later = END + timedelta(days=2)
    report = build_marts(engine, as_of=later)
    assert report.previous_end == END
    assert report.from_days == {
        world.alice: END + timedelta(days=1),
        world.bob: END + timedelta(days=1),
    }
    assert report.rows["mart_account_daily"] == 2 * (4 + 2)
    assert max(net_worth(warehouse_url, world.alice)) == later
    assert net_worth(warehouse_url, world.alice)[later] == D("1890")
    assert {r[4] for r in rows(engine, mart_breakdowns)} == {later}
    assert {r[2] for r in rows(engine, mart_holdings)} == {later}
    assert built_through(engine) == {later}
    assert marts(engine) == _full_through(warehouse_url, later)

    # Back to an earlier end day: later days go, the breakdowns are as of the new end.
    earlier = d("02-01")
    report = build_marts(engine, as_of=earlier)
    assert max(net_worth(warehouse_url, world.alice)) == earlier
    assert {r[4] for r in rows(engine, mart_breakdowns)} == {earlier}
    assert marts(engine) == _full_through(warehouse_url, earlier)


def _full_through(url: str, end) -> dict[str, list[tuple]]:
    engine = get_engine(url)
    build_marts(engine, as_of=end, full=True)
    return marts(engine)


def test_positions_are_carried_past_balance_only_snapshots(
    warehouse_url: str, world: World
) -> None:
    engine = get_engine(warehouse_url)
    with engine.begin() as connection:
        factories.snapshot(  # no positions
            connection, world.swiss, END, "820", "CHF", base="861", base_currency="EUR"
        )
        record_mart_change(connection, world.alice, END, "balance only")
    build_marts(engine, as_of=END)
    swiss = [r for r in rows(engine, mart_account_daily) if r[2] == world.swiss]
    assert [(r[1], r[3], r[8]) for r in swiss] == [
        (d("02-02"), d("02-02"), d("02-02")),
        (END, END, d("02-02")),  # the balance of the 3rd, the positions of the 2nd
    ]
    holdings = {r[1]: r[8] for r in rows(engine, mart_holdings)}
    assert holdings["name:Gold bar"] == D("1")
    cash = {
        r[2]: r[6]
        for r in rows(engine, mart_breakdowns)
        if r[1] == "asset_class" and r[0] == world.alice
    }
    assert cash["cash"] == D("355.5") + D("21")  # 861 - 724.50 instead of 840 - 724.50
    assert marts(engine) == full_rebuild(warehouse_url)


def test_only_the_given_users_changes_are_consumed(warehouse_url: str, world: World) -> None:
    engine = get_engine(warehouse_url)
    with engine.begin() as connection:
        record_mart_change(connection, world.alice, d("02-02"), "a")
        record_mart_change(connection, world.bob, d("02-02"), "b")
    report = build_marts(engine, as_of=END, users=[world.bob])
    assert report.from_days == {world.bob: d("02-02")}
    assert changes(engine) == {world.alice: d("02-02")}
    report = build_marts(engine, as_of=END, users=[world.alice], full=True)
    assert report.from_days == {world.alice: BEGINNING}
    assert changes(engine) == {}


def test_unknown_users_are_refused_and_nothing_changes(warehouse_url: str, world: World) -> None:
    engine = get_engine(warehouse_url)
    with engine.begin() as connection:
        record_mart_change(connection, world.alice, d("02-02"), "a")
    before = marts(engine)
    with pytest.raises(MartsError, match=r"no such user: 999999"):
        build_marts(engine, as_of=END, users=[world.alice, 999_999])
    assert marts(engine) == before
    assert changes(engine) == {world.alice: d("02-02")}


def test_a_failing_build_keeps_the_old_marts_and_the_changes(
    warehouse_url: str, world: World
) -> None:
    engine = get_engine(warehouse_url)
    before = marts(engine)
    with engine.begin() as connection:
        write_snapshots(
            connection, world.giro, [NewSnapshot(d("01-31"), D("120"), "EUR")], source="manual"
        )
    builds_before = rows(engine, mart_builds)
    models = list(default_models())
    broken = next(i for i, m in enumerate(models) if m.name == "mart_holdings")
    models[broken] = replace(
        models[broken], template="{{ config(rebuild='user') }} SELECT nonsense"
    )
    with pytest.raises(Exception, match="nonsense"):
        build_marts(engine, as_of=END, models=models)
    assert marts(engine) == before  # not even the models before the broken one
    assert changes(engine) == {world.alice: d("01-31")}
    assert rows(engine, mart_builds) == builds_before
    build_marts(engine, as_of=END)
    assert changes(engine) == {}
    assert net_worth(warehouse_url, world.alice)[d("02-01")] == D("1020")


def test_a_change_recorded_after_reading_survives(warehouse_url: str, world: World) -> None:
    engine = get_engine(warehouse_url)
    with engine.begin() as connection:
        record_mart_change(connection, world.alice, d("02-02"), "first")
    with engine.connect() as connection:
        read = _read_changes(connection, None)
    with engine.begin() as connection:  # meanwhile, an earlier day changes
        record_mart_change(connection, world.alice, d("01-31"), "second")
    with engine.begin() as connection:
        assert _consume(connection, read) == 0
    assert changes(engine) == {world.alice: d("01-31")}
    with engine.connect() as connection:
        read = _read_changes(connection, None)
    with engine.begin() as connection:
        assert _consume(connection, read) == 1
    assert changes(engine) == {}


@pytest.mark.postgres
def test_a_change_recorded_while_a_build_runs_is_kept(postgres_server_url: str) -> None:
    """PostgreSQL lets writers commit while a build runs: their change must survive it.
    (SQLite queues them behind the build's write lock.)"""
    from tests.support.fixtures import empty_tables

    empty_tables(postgres_server_url)
    engine = get_engine(postgres_server_url)
    world = make_world(engine)
    build_marts(engine, as_of=END)
    with engine.begin() as connection:
        record_mart_change(connection, world.alice, d("02-02"), "before the build")
    models = list(default_models())
    slow = next(i for i, m in enumerate(models) if m.name == "mart_holdings")
    models[slow] = replace(
        models[slow],
        template=models[slow].template.replace(
            "AND ad.day = {{ end_day }}",
            "AND ad.day = {{ end_day }} AND (SELECT COUNT(*) FROM pg_sleep(1.5)) = 1",
        ),
    )
    assert "pg_sleep" in models[slow].render("postgresql")
    result: dict = {}
    thread = threading.Thread(
        target=lambda: result.update(report=build_marts(engine, as_of=END, models=models))
    )
    thread.start()
    time.sleep(0.7)
    with engine.begin() as connection:  # commits while the build sleeps
        record_mart_change(connection, world.alice, d("02-02"), "during the build")
    thread.join()
    assert result["report"].from_days == {world.alice: d("02-02")}
    with engine.connect() as connection:
        reason = connection.execute(select(mart_changes.c.reason)).scalar_one()
    assert reason == "during the build"
    assert build_marts(engine, as_of=END).changes_consumed == 1
    assert changes(engine) == {}


def test_a_new_base_currency_rebuilds_everything(warehouse_url: str, world: World) -> None:
    engine = get_engine(warehouse_url)
    with engine.begin() as connection:
        update_profile(connection, world.alice, base_currency="CHF")
    assert changes(engine) == {world.alice: d("01-30")}
    build_marts(engine, as_of=END)
    # Nothing reconverted yet: no EUR amount may pass for CHF.
    alice = [r for r in rows(engine, mart_net_worth_daily) if r[0] == world.alice]
    assert {(r[2], r[3], r[4], r[5]) for r in alice} >= {("CHF", Decimal(0), 4, 4)}
    assert all(r[2] == "CHF" and r[3] == 0 and r[4] == r[5] for r in alice)
    with engine.begin() as connection:  # the same currency again: nothing to rebuild
        update_profile(connection, world.alice, base_currency="CHF")
    assert changes(engine) == {}


def test_removing_an_account_rebuilds_from_its_first_day(warehouse_url: str, world: World) -> None:
    engine = get_engine(warehouse_url)
    with engine.begin() as connection:
        remove_account(connection, world.alice, world.depot)
    assert changes(engine) == {world.alice: d("01-31")}
    build_marts(engine, as_of=END)
    assert net_worth(warehouse_url, world.alice)[d("02-03")] == D("990")  # 150 + 840
    assert marts(engine) == full_rebuild(warehouse_url)


@pytest.mark.parametrize(
    ("previous_end", "changed", "full", "users", "expected"),
    [
        (None, {}, False, None, {1: "1900-01-01", 2: "1900-01-01"}),  # never built
        (END, {}, False, None, {}),  # fresh
        (END, {1: "2024-01-15"}, False, None, {1: "2024-01-15"}),
        (END, {1: "2024-03-01"}, False, None, {1: "2024-03-01"}),  # a future day, kept
        (
            END - timedelta(days=1),
            {1: "2024-01-15"},
            False,
            None,
            {1: "2024-01-15", 2: "2024-02-03"},
        ),
        (END + timedelta(days=3), {}, False, None, {1: "2024-02-04", 2: "2024-02-04"}),  # cut back
        (END, {}, True, {2}, {2: "1900-01-01"}),
        (END, {1: "2024-01-15"}, True, None, {1: "1900-01-01", 2: "1900-01-01"}),
    ],
)
def test_plan_scope(previous_end, changed, full, users, expected) -> None:
    from datetime import date

    assert plan_scope(
        end_day=END,
        previous_end=previous_end,
        all_users={1, 2},
        changes={u: date.fromisoformat(day) for u, day in changed.items()},
        full=full,
        users=users,
    ) == {u: date.fromisoformat(day) for u, day in expected.items()}


def test_a_renamed_broker_rebuilds_its_users_breakdowns(
    warehouse_url: str, world: World, tmp_path
) -> None:
    import json

    from wealth_pipeline.brokers.catalogue import CATALOGUE_PATH, get_broker, load_catalogue

    engine = get_engine(warehouse_url)
    with engine.begin() as connection:
        load_catalogue(connection)
        demo = get_broker(connection, "demo")
        connection.execute(
            update(financial_accounts)
            .where(financial_accounts.c.id == world.cash)
            .values(broker_id=demo["id"])
        )
    build_marts(engine, as_of=END, full=True)
    entries = json.loads(CATALOGUE_PATH.read_text())
    for entry in entries:
        if entry["code"] == "demo":
            entry["name"] = "Demo Bank AG"
    renamed = tmp_path / "catalogue.json"
    renamed.write_text(json.dumps(entries))
    with engine.begin() as connection:
        assert load_catalogue(connection, renamed) == 1
    assert changes(engine).keys() == {world.bob}
    build_marts(engine, as_of=END)
    brokers = {
        r[3] for r in rows(engine, mart_breakdowns) if r[1] == "broker" and r[0] == world.bob
    }
    assert brokers == {"Demo Bank AG"}


def test_many_changes_in_a_row_always_equal_a_full_rebuild(
    warehouse_url: str, world: World
) -> None:
    """Snapshots written back and forth in time, replaced, with positions, accounts removed or
    switched off, the base currency changed and back, the day moving on: after each
    incremental build the marts equal a from-scratch build."""
    import random

    from wealth_pipeline.snapshots.store import NewPosition

    engine = get_engine(warehouse_url)
    pick = random.Random(6)
    accounts = [
        (world.giro, "EUR"),
        (world.depot, "EUR"),
        (world.swiss, "EUR"),
        (world.cash, "EUR"),
    ]
    end = END
    for step in range(12):
        account, currency = pick.choice(accounts)
        day = d("01-25") + timedelta(days=pick.randrange(0, 14))
        positions = ()
        if pick.random() < 0.5:
            positions = (
                NewPosition(
                    "VWCE",
                    "Vanguard",
                    Decimal(pick.randrange(1, 9)),
                    None,
                    Decimal("100"),
                    "EUR",
                    isin=VWCE_ISIN,
                ),
            )
        with engine.begin() as connection:
            write_snapshots(
                connection,
                account,
                [
                    NewSnapshot(
                        day, Decimal(pick.randrange(-500, 5000)), currency, positions=positions
                    )
                ],
                source="manual",
                replace=True,
            )
            if step == 7:
                remove_account(connection, world.alice, world.swiss)
                accounts.remove((world.swiss, "EUR"))
            if step in (4, 9):  # a base-currency change and back, nothing reconverted
                update_profile(connection, world.alice, base_currency=("CHF", "EUR")[step == 9])
            if step == 2:  # switched off: it still holds what it held
                connection.execute(
                    update(financial_accounts)
                    .where(financial_accounts.c.id == world.cash)
                    .values(status="inactive")
                )
        if step % 4 == 3:
            end += timedelta(days=1)
        build_marts(engine, as_of=end)
        incremental = marts(engine)
        build_marts(engine, as_of=end, full=True)
        assert incremental == marts(engine), f"step {step}"
    # The switched-off account still counts on the last day, with what it last held.
    assert [
        r[2] for r in rows(engine, mart_account_daily) if r[1] == end and r[0] == world.bob
    ] == [
        world.cash,
        world.yen,
    ]


def test_positions_still_in_the_former_base_currency_are_not_counted_in_the_new_one(
    warehouse_url: str, world: World
) -> None:
    """After a base-currency change, a reconverted balance may carry positions whose
    conversion is still in the former currency: EUR values must never pass for CHF."""
    engine = get_engine(warehouse_url)
    with engine.begin() as connection:
        update_profile(connection, world.alice, base_currency="CHF")
        # Depot: a new balance-only snapshot converted into CHF; its positions (02-01) are
        # still in EUR. Swiss: reconverted with its positions.
        factories.snapshot(
            connection, world.depot, END, "1000", "USD", base="880", base_currency="CHF"
        )
        connection.execute(
            update(account_snapshots)
            .where(account_snapshots.c.account_id == world.swiss)
            .values(base_currency="CHF", balance_base_currency=D("800"))
        )
        swiss_positions = select(account_snapshots.c.id).where(
            account_snapshots.c.account_id == world.swiss
        )
        connection.execute(
            update(portfolio_positions)
            .where(portfolio_positions.c.snapshot_id.in_(swiss_positions))
            .values(
                market_value_base_currency=portfolio_positions.c.market_value_base_currency
                - D("10"),
                price_base_currency=D("1"),
            )
        )
    build_marts(engine, as_of=END)
    alice = [r for r in rows(engine, mart_breakdowns) if r[0] == world.alice]
    assert {r[5] for r in alice} == {"CHF"}
    classes = {r[2]: r[6] for r in alice if r[1] == "asset_class"}
    # Swiss: its CHF positions (200 + 189.50 + 305) and 105.50 cash; Depot's EUR positions
    # are not used: its 880 CHF count whole as a brokerage account without positions.
    assert classes == {
        "fund": D("200"),
        "equity": D("189.5"),
        "commodity": D("305"),
        "cash": D("105.5"),
        "other": D("880"),
    }
    assert sum(classes.values()) == D("1680")  # the net worth: 880 + 800 (Giro unconverted)
    holdings = {
        r[1]: (r[7], r[9], r[10]) for r in rows(engine, mart_holdings) if r[0] == world.alice
    }
    # Depot's share of VWCE and AAPL is in EUR: no CHF value rather than a mixed one.
    assert holdings[f"isin:{VWCE_ISIN}"][:2] == ("CHF", None)
    assert holdings["symbol:AAPL"][:2] == ("CHF", None)
    assert holdings["name:Gold bar"] == ("CHF", D("305"), D("1"))
    assert marts(engine) == full_rebuild(warehouse_url)


def test_a_merged_holdings_price_is_its_value_over_its_quantity_rounded_once(
    warehouse_url: str, world: World
) -> None:
    engine = get_engine(warehouse_url)
    with engine.begin() as connection:
        factories.snapshot(
            connection, world.giro, END, "150", "EUR", base="150", base_currency="EUR",
            positions=[holding(VWCE_ISIN, "VWCE", "Vanguard FTSE All-World", "fund", "3", "70", "23")],
        )  # fmt: skip
        record_mart_change(connection, world.alice, END, "positions")
    build_marts(engine, as_of=END)
    holdings = {r[1]: r[8:11] for r in rows(engine, mart_holdings) if r[0] == world.alice}
    # 720 + 210 + 70 over 2 + 1 + 3 units: 166.66666666666..., half-even at 10 places.
    assert holdings[f"isin:{VWCE_ISIN}"] == (D("6"), D("1000"), D("166.6666666667"))
    assert holdings["name:Gold bar"] == (D("1"), D("315"), D("315"))  # one position: its quote
    assert marts(engine) == full_rebuild(warehouse_url)
