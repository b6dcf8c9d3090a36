"""Each mart model on a fixed warehouse (tests/support/marts.py), on SQLite and PostgreSQL:
every row checked by hand."""

from __future__ import annotations

from datetime import date

import pytest

from tests.support.marts import END, VWCE, D, World, d, make_world, rows
from wealth_pipeline.marts import build_marts
from wealth_pipeline.warehouse.engine import get_engine
from wealth_pipeline.warehouse.schema import (
    mart_account_daily,
    mart_breakdowns,
    mart_holdings,
    mart_net_worth_daily,
    mart_net_worth_monthly,
)


@pytest.fixture
def built(warehouse_url: str) -> tuple[str, World]:
    engine = get_engine(warehouse_url)
    world = make_world(engine)
    report = build_marts(engine, as_of=END)
    assert report.from_days.keys() == {world.alice, world.bob}
    return warehouse_url, world


def days(first: str, last: str) -> list[date]:
    start, end = d(first), d(last)
    return [date.fromordinal(n) for n in range(start.toordinal(), end.toordinal() + 1)]


def test_account_values_are_carried_forward_each_day(built: tuple[str, World]) -> None:
    url, w = built
    a, b = w.alice, w.bob
    # snapshot carried, balance, currency, base currency, base amount, positions' snapshot
    giro_old = (d("01-30"), D("100"), "EUR", "EUR", D("100"), None)
    giro_new = (d("02-02"), D("150"), "EUR", "EUR", D("150"), None)
    depot_old = (d("01-31"), D("900"), "USD", "EUR", D("810"), d("01-31"))
    depot_new = (d("02-01"), D("1000"), "USD", "EUR", D("900"), d("02-01"))
    swiss = (d("02-02"), D("800"), "CHF", "EUR", D("840"), d("02-02"))
    pounds = (d("02-01"), D("50"), "GBP", "EUR", None, None)  # unconverted: no base amount
    expected = [
        (a, d("01-30"), w.giro, *giro_old),
        (a, d("01-31"), w.giro, *giro_old),
        (a, d("01-31"), w.depot, *depot_old),
        (a, d("02-01"), w.giro, *giro_old),
        (a, d("02-01"), w.depot, *depot_new),
        (a, d("02-01"), w.pounds, *pounds),
    ]
    for day in days("02-02", "02-03"):
        expected += [
            (a, day, w.giro, *giro_new),
            (a, day, w.depot, *depot_new),
            (a, day, w.swiss, *swiss),
            (a, day, w.pounds, *pounds),
        ]
    for day in days("02-01", "02-03"):
        expected += [
            (b, day, w.cash, d("02-01"), D("100"), "USD", "CHF", D("90"), d("02-01")),
            (b, day, w.yen, d("02-01"), D("1000"), "JPY", "CHF", None, d("02-01")),
        ]
    # the columns above (the snapshot's exchange rate and the returns' columns follow)
    assert [row[:9] for row in rows(get_engine(url), mart_account_daily)] == expected


def test_net_worth_per_day_sums_converted_values(built: tuple[str, World]) -> None:
    url, w = built
    a, b = w.alice, w.bob
    assert rows(get_engine(url), mart_net_worth_daily) == [
        (a, d("01-30"), "EUR", D("100"), 1, 0),
        (a, d("01-31"), "EUR", D("910"), 2, 0),
        (a, d("02-01"), "EUR", D("1000"), 3, 1),
        (a, d("02-02"), "EUR", D("1890"), 4, 1),
        (a, d("02-03"), "EUR", D("1890"), 4, 1),
        (b, d("02-01"), "CHF", D("90"), 2, 1),
        (b, d("02-02"), "CHF", D("90"), 2, 1),
        (b, d("02-03"), "CHF", D("90"), 2, 1),
    ]


def test_monthly_aggregates(built: tuple[str, World]) -> None:
    url, w = built
    monthly = rows(get_engine(url), mart_net_worth_monthly)
    assert monthly == [
        (w.alice, d("01-01"), "EUR", d("01-31"), D("910"), D("100"), D("910"), D("1010"), 2),
        (w.alice, d("02-01"), "EUR", d("02-03"), D("1890"), D("1000"), D("1890"), D("4780"), 3),
        (w.bob, d("02-01"), "CHF", d("02-03"), D("90"), D("90"), D("90"), D("270"), 3),
    ]
    # What readers compute: avg = sum / days, exactly.
    assert monthly[1][7] / monthly[1][8] == D("1593.333333333333333333333333")


def test_breakdowns_on_the_last_day(built: tuple[str, World]) -> None:
    url, w = built
    a, b = w.alice, w.bob

    def row(user: int, dimension: str, key: str, category: str, amount: str, base: str = "EUR"):
        return (user, dimension, key, category, END, base, D(amount))

    expected = [
        row(a, "broker", "bank", "Bank", "150"),  # the unconverted Pounds left out
        row(a, "broker", "broker", "Broker", "1740"),
        row(a, "currency", "EUR", "EUR", "150"),
        row(a, "currency", "USD", "USD", "900"),
        row(a, "currency", "CHF", "CHF", "840"),
        row(a, "account_type", "checking", "Checking", "150"),
        row(a, "account_type", "brokerage", "Brokerage", "1740"),
        row(a, "account", str(w.giro), "Giro", "150"),
        row(a, "account", str(w.depot), "Depot", "900"),
        row(a, "account", str(w.swiss), "Swiss", "840"),
        # Giro has no positions (checking: cash); Depot's 900 minus 810 in positions and
        # Swiss' 840 minus 724.50 count as cash: 150 + 90 + 115.50.
        row(a, "asset_class", "cash", "Cash", "355.5"),
        row(a, "asset_class", "fund", "Funds", "930"),
        row(a, "asset_class", "equity", "Equities", "289.5"),
        row(a, "asset_class", "commodity", "Commodities", "315"),
        row(b, "broker", "bank", "Bank", "90", "CHF"),
        row(b, "currency", "USD", "USD", "90", "CHF"),
        row(b, "account_type", "checking", "Checking", "90", "CHF"),
        row(b, "account", str(w.cash), "Cash", "90", "CHF"),
        row(b, "asset_class", "equity", "Equities", "45", "CHF"),
        row(b, "asset_class", "cash", "Cash", "45", "CHF"),
    ]
    assert sorted(rows(get_engine(url), mart_breakdowns)) == sorted(expected)
    # Every dimension adds up to the day's net worth.
    for user, total in ((a, D("1890")), (b, D("90"))):
        for dimension in ("broker", "currency", "account_type", "account", "asset_class"):
            assert sum(r[6] for r in expected if r[0] == user and r[1] == dimension) == total


def test_holdings_merged_by_isin_symbol_and_name(built: tuple[str, World]) -> None:
    url, w = built
    depot = {"account_id": w.depot, "account_name": "Depot"}
    swiss = {"account_id": w.swiss, "account_name": "Swiss"}
    a, b = w.alice, w.bob
    fund = ("Vanguard FTSE All-World", "fund", "EUR")
    assert rows(get_engine(url), mart_holdings) == [
        # Depot's older snapshot (10 units on 01-31) is not its latest with positions.
        (
            a,
            f"isin:{VWCE}",
            END,
            VWCE,
            "VWCE.SW",
            *fund,
            D("3"),
            D("930"),
            D("310"),  # merged: value / quantity (720 + 210) / (2 + 1), not one account's quote
            [depot, swiss],
        ),
        (
            a,
            "name:Gold bar",
            END,
            None,
            "",
            "Gold bar",
            "commodity",
            "EUR",
            D("1"),
            D("315"),
            D("315"),
            [swiss],
        ),
        (
            a,
            "symbol:AAPL",
            END,
            None,
            "AAPL",
            "Apple",
            "equity",
            "EUR",
            D("3"),
            D("289.5"),
            D("96.5"),  # (90 + 199.50) / 3
            [depot, swiss],
        ),
        # One of the merged positions is unconverted: no value, rather than a partial one,
        # and the price of the most recent position that has one.
        (
            b,
            "isin:US0000000001",
            END,
            "US0000000001",
            "X",
            "X Corp",
            "equity",
            "CHF",
            D("8"),
            None,
            D("9"),
            [
                {"account_id": w.cash, "account_name": "Cash"},
                {"account_id": w.yen, "account_name": "Yen"},
            ],
        ),
    ]
