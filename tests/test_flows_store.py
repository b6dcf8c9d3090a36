"""The flows store and the pairing, on SQLite and PostgreSQL: signs, idempotent re-sync by
external id, conversion when the rate arrives and on a base-currency change, pairing rules."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select, update

from tests.support.returns import account, add_rates, setup_user
from wealth_pipeline.conversions.convert import convert_snapshots
from wealth_pipeline.flows.pairing import plan_pairs
from wealth_pipeline.flows.store import FlowError, NewFlow, signed_amount, write_flows
from wealth_pipeline.warehouse.engine import get_engine
from wealth_pipeline.warehouse.schema import cash_flows, profiles

DAY = date(2024, 3, 4)


def rows(engine, account_id):
    with engine.connect() as c:
        return (
            c.execute(
                select(cash_flows)
                .where(cash_flows.c.account_id == account_id)
                .order_by(cash_flows.c.id)
            )
            .mappings()
            .all()
        )


def test_signs_follow_the_kind() -> None:
    assert signed_amount("withdrawal", Decimal("5")) == Decimal("-5")
    assert signed_amount("fee", Decimal("-5")) == Decimal("-5")
    assert signed_amount("interest", Decimal("-1")) == Decimal("-1")  # negative rates
    with pytest.raises(FlowError, match="must not be negative"):
        signed_amount("deposit", Decimal("-1"))
    with pytest.raises(FlowError, match="unknown kind"):
        signed_amount("gift", Decimal("1"))


def test_resync_updates_by_external_id_and_conversion_follows_the_rates(warehouse_url: str) -> None:
    engine = get_engine(warehouse_url)
    user, broker = setup_user(engine)
    usd = account(engine, user, broker, "Dollars", "USD")
    batch = [NewFlow(DAY, Decimal("100"), "dividend", external_id="x1", raw_data={"token": "t0p"})]
    with engine.begin() as c:
        report = write_flows(c, usd, batch, source="auto", secrets=["t0p"])
    assert report.inserted == 1 and report.unconverted  # no USD rate yet: NULL, with the reason
    (row,) = rows(engine, usd)
    assert row["amount_base_currency"] is None and row["conversion_note"]
    assert "t0p" not in str(row["raw_data"])

    add_rates(engine, "USD", {DAY: "1.25", DAY + timedelta(days=1): "1.20"})
    with engine.begin() as c:
        converted = convert_snapshots(c)
    assert converted.flows_fixed == 1
    (row,) = rows(engine, usd)
    assert row["amount_base_currency"] == Decimal("80.0000") and row["rate_date"] == DAY

    with engine.begin() as c:  # the same id again: unchanged; a corrected amount: updated
        assert write_flows(c, usd, batch, source="auto").unchanged == 1
        fixed = [NewFlow(DAY, Decimal("125"), "dividend", external_id="x1")]
        assert write_flows(c, usd, fixed, source="auto").updated == 1
    (row,) = rows(engine, usd)
    assert row["amount"] == Decimal("125") and row["amount_base_currency"] == Decimal("100.0000")

    with engine.begin() as c:  # a new base currency reconverts the flows too
        c.execute(update(profiles).where(profiles.c.user_id == user).values(base_currency="USD"))
        assert convert_snapshots(c, only_missing=False).flows_fixed == 1
    (row,) = rows(engine, usd)
    assert (row["base_currency"], row["amount_base_currency"]) == ("USD", Decimal("125.0000"))

    with engine.begin() as c, pytest.raises(FlowError, match="same external id appears twice"):
        write_flows(c, usd, batch + batch, source="auto")
    with engine.begin() as c, pytest.raises(FlowError, match="account is in USD"):
        write_flows(
            c, usd, [NewFlow(DAY, Decimal("1"), "deposit", currency="EUR")], source="manual"
        )


def test_pairing_rules() -> None:
    d = DAY
    flows = [
        (1, 10, d, Decimal("-500")),  # out of 10
        (2, 20, d + timedelta(days=2), Decimal("500")),  # into 20, two days later: pairs with 1
        (3, 20, d, Decimal("499.00")),  # within 0.5 % but farther in... same day: closer
        (4, 10, d, Decimal("500")),  # same account: never its own partner
        (5, 30, d + timedelta(days=9), Decimal("700")),  # beyond the window
        (6, 10, d + timedelta(days=8), Decimal("-700")),
        (7, 30, d, Decimal("-1000")),  # no inflow of that size
    ]
    pairs = plan_pairs(flows)
    assert (1, 3) in pairs  # the same day beats two days later (499 is within tolerance)
    assert (6, 5) in pairs  # one day apart
    assert all(out != 7 for out, _ in pairs)
    used = [i for pair in pairs for i in pair]
    assert len(used) == len(set(used))  # nobody paired twice
    assert all(flow_in != 4 or flow_out != 1 for flow_out, flow_in in pairs)


def test_coverage_is_one_span_and_a_gap_restarts_it(warehouse_url: str) -> None:
    from wealth_pipeline.flows.store import coverage, extend_coverage

    engine = get_engine(warehouse_url)
    user, broker = setup_user(engine)
    acc = account(engine, user, broker, "Giro")
    d = date(2024, 1, 1)
    with engine.begin() as c:
        extend_coverage(c, acc, d, d + timedelta(days=6))
        extend_coverage(c, acc, d + timedelta(days=7), d + timedelta(days=13))  # adjacent
        assert coverage(c, acc) == (d, d + timedelta(days=13))
        extend_coverage(c, acc, d - timedelta(days=30), d - timedelta(days=20))  # apart, older
        assert coverage(c, acc) == (d, d + timedelta(days=13))
        extend_coverage(c, acc, d + timedelta(days=30), d + timedelta(days=36))  # after a gap
        assert coverage(c, acc) == (d + timedelta(days=30), d + timedelta(days=36))
