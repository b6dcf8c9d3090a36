"""Returns against independent references, through the whole pipeline (flows store, marts,
period figures), on SQLite and PostgreSQL.

The worked examples are the CFA Level I curriculum's two-period stock examples (an investor
buys shares at t=0 and more at t=1, each share pays a dividend at the end of each year, all
are sold at t=2), with their published answers:
- $100, one more share at $120, both sold at $130, $2 dividends: TWR 15.84 % a year
  (holding-period returns 22 % and 10 %), MWR 13.86 % (CFA Institute, "Discounted Cash Flow
  Applications"; the problem as quoted at analystforum.com/forums/cfa-forums/cfa-level-i-forum/91363351);
- one share at $100, three more at $89, four sold at $98, $1 dividends: MWR 6.35 %
  (analystforum.com/t/money-weighted-return/126285);
- $200, one more at $225, both sold at $235, $5 dividends: TWR 10.8 %, MWR 9.4 %
  (leetquiz.com, CFA Level I question cmnfz00d3000701l0qhi2z2ci).
The account keeps the dividend as cash until t=1, then pays it out to the investor
(a withdrawal) on the day of the second purchase (a deposit).
"""

from __future__ import annotations

import random
import sqlite3
from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from tests.support.returns import account, add_rates, build, flows, setup_user, values
from wealth_pipeline import money
from wealth_pipeline.marts.models import effect_in_integers_sql
from wealth_pipeline.marts.returns_daily import register_sqlite_functions
from wealth_pipeline.returns.periods import money_weighted, performance
from wealth_pipeline.warehouse.engine import get_engine
from wealth_pipeline.warehouse.schema import mart_account_daily, mart_returns_daily


def stock_world(url: str, n1: int, p0: str, n2: int, p1: str, p2: str, div: str):
    engine = get_engine(url)
    user, broker = setup_user(engine)
    acc = account(engine, user, broker, "Shares")
    t0, y1, t1, y2 = date(2021, 1, 1), date(2021, 12, 31), date(2022, 1, 1), date(2022, 12, 31)
    P0, P1, P2, DIV = (Decimal(x) for x in (p0, p1, p2, div))
    n = n1 + n2
    values(
        engine,
        acc,
        "EUR",
        {t0: str(n1 * P0), y1: str(n1 * (P1 + DIV)), t1: str(n * P1), y2: str(n * (P2 + DIV))},
    )
    flows(
        engine,
        acc,
        [
            (t0, str(n1 * P0), "deposit"),
            (y1, str(n1 * DIV), "dividend"),
            (t1, str(n1 * DIV), "withdrawal"),  # the dividend goes to the investor
            (t1, str(n2 * P1), "deposit"),  # and the second purchase is paid in
            (y2, str(n * DIV), "dividend"),
        ],
        covered=(t0 - timedelta(days=1), y2),  # nothing was there before t0
    )
    build(engine, y2)
    return engine, user, acc


@pytest.mark.parametrize(
    ("example", "twr", "mwr", "places"),
    [
        ((1, "100", 1, "120", "130", "2"), 15.84, 13.86, 2),
        ((1, "100", 3, "89", "98", "1"), None, 6.35, 2),
        ((1, "200", 1, "225", "235", "5"), 10.8, 9.4, 1),
    ],
)
def test_published_money_and_time_weighted_returns(
    warehouse_url: str, example: tuple, twr: float | None, mwr: float, places: int
) -> None:
    engine, user, acc = stock_world(warehouse_url, *example)
    n1, p0, n2, p1, p2, div = example
    with engine.connect() as c:
        for account_id in (acc, None):
            result = performance(c, user, "max", account_id=account_id)
            assert result is not None
            assert result.days == 730 and result.annualised
            if twr is not None:
                assert round(result.time_weighted_return * 100, places) == twr
            assert round(result.money_weighted_return * 100, places) == mwr
            paid_in = n1 * Decimal(p0) + n2 * Decimal(p1) - n1 * Decimal(div)
            assert result.contributions == paid_in
            assert result.income == (2 * n1 + n2) * Decimal(div)
            assert result.change == (n1 + n2) * (Decimal(p2) + Decimal(div))
            assert result.market_result == result.change - paid_in
            assert result.unexplained == 0


def brute_force_irr(flows: list[tuple[date, float]]) -> float:
    """Bisection on the Actual/365 NPV: an independent solve to compare pyxirr with."""
    first = flows[0][0]

    def npv(rate: float) -> float:
        return sum(a / (1 + rate) ** ((d - first).days / 365) for d, a in flows)

    low, high = -0.99, 10.0
    for _ in range(200):
        mid = (low + high) / 2
        if (npv(low) > 0) == (npv(mid) > 0):
            low = mid
        else:
            high = mid
    return (low + high) / 2


def test_xirr_agrees_with_a_brute_force_solve() -> None:
    rng = random.Random(16)
    for _ in range(30):
        start = date(2020, 1, 1)
        flows = [(start, -float(rng.randint(1000, 5000)))]
        for _ in range(rng.randint(1, 12)):
            flows.append((start + timedelta(days=rng.randint(1, 700)), -float(rng.randint(0, 900))))
        end = start + timedelta(days=800)
        flows.append((end, float(rng.randint(3000, 12000))))
        flows.sort()
        ours = money_weighted([(d, Decimal(str(a))) for d, a in flows], 800)
        assert ours is not None
        assert abs(ours - brute_force_irr(flows)) < 1e-7


def test_money_weighted_has_no_answer_without_both_signs() -> None:
    assert money_weighted([(date(2024, 1, 1), Decimal("-5"))], 10) is None


def test_random_accounts_decompose_exactly_and_the_total_is_value_weighted(
    warehouse_url: str,
) -> None:
    """Seeded: three accounts (one in USD) with random flows and market moves over 60 days.
    Every account-day: change = external flow + market result to the cent; the total's daily
    return is the value-weighted combination of the accounts'."""
    engine = get_engine(warehouse_url)
    rng = random.Random(20261203)
    start = date(2024, 3, 1)
    days = [start + timedelta(days=i) for i in range(60)]
    add_rates(engine, "USD", {d: f"1.{rng.randint(5000, 9999)}" for d in days})
    user, broker = setup_user(engine)
    accounts = [
        (account(engine, user, broker, "A"), "EUR"),
        (account(engine, user, broker, "B"), "EUR"),
        (account(engine, user, broker, "C", "USD"), "USD"),
    ]
    for acc, currency in accounts:
        value = Decimal(rng.randint(1000, 50000))
        by_day = {}
        items = []
        for day in days:
            if rng.random() < 0.3:
                amount = Decimal(rng.randint(-500_00, 900_00)).scaleb(-2)
                kind = "deposit" if amount >= 0 else "withdrawal"
                items.append((day, str(abs(amount)), kind))
                value += amount
            value = (value * Decimal(1 + rng.uniform(-0.02, 0.021))).quantize(Decimal("0.01"))
            value = max(value, Decimal(100))
            by_day[day] = str(value)
        values(engine, acc, currency, by_day)
        # the opening value is not explained (no deposit of it): coverage from the next day
        flows(engine, acc, items, covered=(days[1], days[-1]))
    build(engine, days[-1])
    t = mart_account_daily
    with engine.connect() as c:
        rows = (
            c.execute(
                select(*t.c, t.c.balance_base_currency.label("value_end"))
                .where(t.c.user_id == user)
                .order_by(t.c.day)
            )
            .mappings()
            .all()
        )
        totals = {
            r["day"]: r
            for r in c.execute(
                select(mart_returns_daily).where(mart_returns_daily.c.user_id == user)
            )
            .mappings()
            .all()
        }
    assert len(rows) == 3 * 60
    by_day: dict[date, list] = {}
    for r in rows:
        if r["day"] == start:
            assert not r["covered"] and r["unexplained"] == r["value_end"]
            continue
        assert r["covered"]
        assert r["value_end"] - r["value_start"] == r["external_flow"] + r["market_result"]
        by_day.setdefault(r["day"], []).append(r)
    assert totals[start]["unexplained"] == totals[start]["value_end"]
    for day, accounts_rows in by_day.items():
        total = totals[day]
        assert total["market_result"] == sum(r["market_result"] for r in accounts_rows)
        assert total["external_flow"] == sum(
            r["external_flow"] - r["paired_transfers"] for r in accounts_rows
        )
        assert total["internal_transfers"] == sum(r["paired_transfers"] for r in accounts_rows)
        assert total["value_end"] - total["value_start"] == (
            total["external_flow"] + total["internal_transfers"] + total["market_result"]
        )
        capitals = [r["value_start"] + r["external_flow"] for r in accounts_rows]
        weighted = sum(
            float(cap) / float(sum(capitals)) * r["daily_return"]
            for cap, r in zip(capitals, accounts_rows, strict=True)
        )
        assert total["daily_return"] == pytest.approx(weighted, rel=1e-12, abs=1e-15)
    usd = [r for r in rows if r["currency"] == "USD" and r["day"] > start]
    assert any(r["currency_effect"] != 0 for r in usd)


def test_a_transfer_between_own_accounts_is_not_saving(warehouse_url: str) -> None:
    """500 out of Giro on 03-04 and into Savings on 03-06 (in transit two days): each account
    shows its flow, the total shows no contribution and no market move, and once both legs
    are booked nothing is in transit."""
    engine = get_engine(warehouse_url)
    user, broker = setup_user(engine)
    giro, savings = account(engine, user, broker, "Giro"), account(engine, user, broker, "Savings")
    d1, d2, d3 = date(2024, 3, 4), date(2024, 3, 5), date(2024, 3, 6)
    values(engine, giro, "EUR", {date(2024, 3, 1): "2000", d1: "1500"})
    values(engine, savings, "EUR", {date(2024, 3, 1): "1000", d3: "1500"})
    cover = (date(2024, 3, 1), d3)  # the opening values are not explained
    flows(engine, giro, [(d1, "500", "transfer_out")], covered=cover)
    flows(engine, savings, [(d3, "500", "transfer_in")], covered=cover)
    build(engine, d3)
    with engine.connect() as c:
        week = performance(c, user, "max")
        giro_figures = performance(c, user, "max", account_id=giro)
        days = {
            r.day: r
            for r in c.execute(
                select(mart_returns_daily).where(mart_returns_daily.c.user_id == user)
            )
        }
    assert week is not None and giro_figures is not None
    assert giro_figures.contributions == Decimal("-500")
    assert week.contributions == 0 and week.market_result == 0
    assert week.internal_transfers == 0 and week.change == 0
    assert days[d1].internal_transfers == Decimal("-500") and days[d1].market_result == 0
    assert days[d2].internal_transfers == 0 and days[d3].internal_transfers == Decimal("500")
    assert week.time_weighted_return == 0.0


def test_the_currency_effect_in_sqlite_integers_is_exact_on_both_sides_of_64_bits() -> None:
    """SQLite works out value x rate change in 64-bit integers and rounds half-even to the
    amount's 4 places; a product past 64 bits goes to Python. Either way the result is
    Decimal's, exactly: random values and rate changes, every exact half, and products far
    past 2**63."""
    connection = sqlite3.connect(":memory:")
    register_sqlite_functions(connection)
    sql = f"SELECT {effect_in_integers_sql('v', 's', 'e')} FROM (SELECT ? AS v, ? AS s, ? AS e)"
    amount, rate = 10**money.AMOUNT_PLACES, 10**money.RATE_PLACES

    def reference(v: int, s: int, e: int) -> int:
        exact = Decimal(v).scaleb(-4) * (Decimal(e - s).scaleb(-12))
        return int(exact.quantize(Decimal("0.0001"), rounding="ROUND_HALF_EVEN") * amount)

    rng = random.Random(16)
    cases = [
        (v, rate, rate + d) for v in range(-30, 31) for d in (rate // 2, -rate // 2, 3 * rate // 2)
    ]
    cases += [(9 * 10**14, rate, 3 * rate), (-9 * 10**14, 3 * rate, rate)]  # past 2**63
    for _ in range(20_000):
        v = rng.choice([rng.randint(-(10**6), 10**6), rng.randint(-(10**15), 10**15)])
        s = rng.randint(1, 10**13)
        cases.append((v, s, max(1, s + rng.randint(-(10**11), 10**11))))
    for v, s, e in cases:
        assert connection.execute(sql, (v, s, e)).fetchone()[0] == reference(v, s, e), (v, s, e)
