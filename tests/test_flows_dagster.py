"""The `account_cash_flows` asset and the flow checks in Dagster, on SQLite and PostgreSQL:
the day's flows converted and paired, a transfer never paired twice, and the returns marts'
decomposition checked to the cent."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import dagster as dg
from sqlalchemy import insert, update

from tests.support.returns import account, build, flows, setup_user, values
from wealth_pipeline.flows.assets import account_cash_flows, no_transfer_paired_twice
from wealth_pipeline.marts.assets import returns_add_up
from wealth_pipeline.warehouse.engine import get_engine
from wealth_pipeline.warehouse.resource import WarehouseResource
from wealth_pipeline.warehouse.schema import cash_flows, mart_account_daily

DAY = date(2024, 5, 6)


def test_the_asset_pairs_transfers_and_the_check_finds_double_pairing(warehouse_url: str) -> None:
    engine = get_engine(warehouse_url)
    user, broker = setup_user(engine)
    giro, savings = account(engine, user, broker, "Giro"), account(engine, user, broker, "Savings")
    with engine.begin() as c:  # written unpaired, as a sync of one account at a time might
        for acc, amount, kind in ((giro, "-300", "transfer_out"), (savings, "300", "transfer_in")):
            c.execute(
                insert(cash_flows).values(
                    account_id=acc, flow_date=DAY, amount=Decimal(amount), currency="EUR",
                    kind=kind, source="auto", base_currency="EUR",
                    amount_base_currency=Decimal(amount), exchange_rate_used=Decimal(1),
                    rate_date=DAY,
                )
            )  # fmt: skip
    warehouse = WarehouseResource(database_url=warehouse_url)
    result = dg.materialize(
        [account_cash_flows, no_transfer_paired_twice],
        resources={"warehouse": warehouse},
        partition_key=DAY.isoformat(),
    )
    assert result.success
    [event] = result.get_asset_materialization_events()
    metadata = event.materialization.metadata
    assert metadata["flows"].value == 2 and metadata["transfers_paired_now"].value == 1
    [check] = result.get_asset_check_evaluations()
    assert check.passed

    with engine.begin() as c:  # a third flow claiming the same partner
        third = c.execute(
            insert(cash_flows)
            .values(account_id=giro, flow_date=DAY, amount=Decimal("-300"), currency="EUR",
                    kind="transfer_out", source="manual")
            .returning(cash_flows.c.id)
        ).scalar_one()  # fmt: skip
        partner = c.execute(cash_flows.select().where(cash_flows.c.account_id == savings)).first()
        c.execute(
            update(cash_flows).where(cash_flows.c.id == third).values(paired_flow_id=partner.id)
        )
    again = dg.materialize(
        [account_cash_flows, no_transfer_paired_twice],
        resources={"warehouse": warehouse},
        partition_key=DAY.isoformat(),
    )
    [check] = again.get_asset_check_evaluations()
    assert not check.passed and check.metadata["problems"].value >= 1


def test_returns_add_up_to_the_cent_and_the_check_sees_a_broken_day(warehouse_url: str) -> None:
    engine = get_engine(warehouse_url)
    user, broker = setup_user(engine)
    acc = account(engine, user, broker, "Depot")
    values(engine, acc, "EUR", {DAY: "1000", date(2024, 5, 7): "1101.01"})
    flows(engine, acc, [(date(2024, 5, 7), "100", "deposit")], covered=(DAY, date(2024, 5, 7)))
    build(engine, date(2024, 5, 7))
    warehouse = WarehouseResource(database_url=warehouse_url)
    assert returns_add_up(warehouse).passed
    with engine.begin() as c:
        c.execute(
            update(mart_account_daily)
            .where(mart_account_daily.c.day == date(2024, 5, 7))
            .values(market_result=Decimal("1.00"))
        )
    check = returns_add_up(warehouse)
    assert not check.passed and check.metadata["mismatches"].value == 1
