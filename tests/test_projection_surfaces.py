"""The projection through its surfaces, on SQLite and PostgreSQL: the API, the `wealth
projection` and `wealth goals` commands, and the weekly `wealth_projection` asset with its
check. Built on the API's fixed warehouse (alice: 4189.4737 EUR on 2025-01-03)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import dagster as dg
import pytest
from click.testing import CliRunner, Result
from sqlalchemy import func, select, update

from tests.support.api import (
    LAST,
    Api,
)
from wealth_pipeline.cli import main
from wealth_pipeline.projection.assets import wealth_projection
from wealth_pipeline.projection.goals import add_goal, update_settings
from wealth_pipeline.projection.service import band_problems
from wealth_pipeline.warehouse.resource import WarehouseResource
from wealth_pipeline.warehouse.schema import (
    projection_bands,
    projection_goal_results,
    projection_runs,
)

NET_WORTH = "4189.4737"


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), prog_name="wealth")


def test_the_api_answers_bands_goals_stop_working_and_inputs(api: Api) -> None:
    with api.engine.begin() as connection:
        add_goal(connection, api.ids.alice, "Car", "30000", date(2030, 6, 30), LAST)
        add_goal(connection, api.ids.alice, "Rainy day", "1000", date(2026, 1, 31), LAST)
        update_settings(connection, api.ids.alice, LAST, yearly_spending=Decimal("2000"))
    answer = api.get("/api/wealth/projection/")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["base_currency"] == "EUR" and body["as_of"] == "2025-01-03"
    assert len(body["bands"]) == 601
    first = body["bands"][0]
    assert {first[f"p{p}"] for p in (5, 25, 50, 75, 95)} == {NET_WORTH}
    for band in body["bands"]:
        values = [Decimal(band[f"p{p}"]) for p in (5, 25, 50, 75, 95)]
        assert values == sorted(values)
    inputs = body["inputs"]
    assert inputs["method"] == "parametric"
    assert "only 0 complete months" in inputs["method_reason"]
    assert inputs["start_wealth"] == NET_WORTH and inputs["paths"] == 10_000
    assert inputs["saving_source"] == "none" and inputs["monthly_saving"] == "0.00"
    goals = {goal["name"]: goal for goal in body["goals"]}
    assert goals["Rainy day"]["probability"] == "1.0000"  # already reached
    assert goals["Rainy day"]["paths_reaching"] == 10_000
    car = goals["Car"]
    assert Decimal(car["probability"]) < Decimal("0.01")  # 4k does not become 30k by itself
    assert Decimal(car["saving_for_80"]) > Decimal(car["saving_for_50"]) > 0
    stop = body["stop_working"]
    assert stop["rule_of_25"]["target"] == "50000.00"
    assert (
        stop["monte_carlo"]["earliest_date"] is None or stop["monte_carlo"]["months_from_now"] > 0
    )
    assert "not financial advice" in body["disclaimer"]
    # The same week, the same numbers; a saving given changes them.
    assert api.get("/api/wealth/projection/").json() == body
    saving = api.get("/api/wealth/projection/", params={"saving": "500"}).json()
    assert saving["inputs"]["monthly_saving"] == "500.00"
    assert saving["inputs"]["seed"] == inputs["seed"]
    assert Decimal(saving["bands"][120]["p50"]) > Decimal(body["bands"][120]["p50"])


def test_the_api_refuses_what_it_cannot_do(api: Api) -> None:
    bootstrap = api.get("/api/wealth/projection/", params={"method": "bootstrap"})
    assert bootstrap.status_code == 422
    assert "needs 36 complete months" in bootstrap.json()["detail"]
    assert api.get("/api/wealth/projection/", params={"saving": "12abc"}).status_code == 422
    assert api.client.get("/api/wealth/projection/").status_code == 401
    bob = api.get("/api/wealth/projection/", username="bob").json()
    assert bob["base_currency"] == "CHF" and bob["bands"][0]["p50"] == "475.0000"
    assert bob["goals"] == []


def test_goals_and_projection_from_the_command_line(api: Api) -> None:
    added = run("goals", "add", "--user", "alice", "--name", "House", "--target", "250000",
                "--by", "2040-06-30")  # fmt: skip
    assert added.exit_code == 0, added.output
    listed = run("goals", "list", "--user", "alice")
    assert (
        "House" in listed.output and "250,000.00" in listed.output and "2040-06-30" in listed.output
    )
    twice = run(
        "goals", "add", "--user", "alice", "--name", "House", "--target", "1", "--by", "2040-01-01"
    )
    assert twice.exit_code == 1 and "already a goal named 'House'" in twice.output
    for bad, message in (
        (["--target", "-5", "--by", "2040-01-01"], "must be above zero"),
        (["--target", "abc", "--by", "2040-01-01"], "is not a number"),
        (["--target", "5", "--by", "2001-01-01"], "is not after today"),
        (["--target", "5", "--by", "2199-01-01"], "50 years"),
    ):
        result = run("goals", "add", "--user", "alice", "--name", "X", *bad)
        assert result.exit_code == 1 and message in result.output, result.output
    settings = run("projection", "settings", "--user", "alice", "--yearly-spending", "12000",
                   "--birth-year", "1990")  # fmt: skip
    assert settings.exit_code == 0, settings.output
    shown = run("projection", "--user", "alice", "--saving", "1500")
    assert shown.exit_code == 0, shown.output
    assert "House: " in shown.output and "% by June 2040" in shown.output
    assert "Monte Carlo:" in shown.output and "25x rule:" in shown.output
    assert "€300,000 needed" in shown.output
    assert "not financial advice" in shown.output
    removed = run("goals", "remove", "--user", "alice", "House")
    assert removed.exit_code == 0 and "Removed goal 'House'" in removed.output
    assert "No goals" in run("goals", "list", "--user", "alice").output
    assert run("goals", "remove", "--user", "alice", "House").exit_code == 1
    assert run("projection", "--user", "nobody").exit_code == 1
    assert run("projection", "--user", "alice", "--method", "bootstrap").exit_code == 1
    for bad, message in (
        (["--saving", "1e400"], "out of range"),
        (["--volatility", "500"], "out of range"),
        (["--return", "5 %", "--volatility", "12 %", "--inflation", "7"], "out of range"),
        (["--saving", "abc"], "is not a number"),
    ):
        result = run("projection", "--user", "alice", *bad)
        assert result.exit_code in (1, 2) and message in result.output, result.output


def test_the_weekly_asset_writes_bands_and_goals_and_checks_them(api: Api) -> None:
    with api.engine.begin() as connection:
        add_goal(connection, api.ids.alice, "Car", "30000", date(2030, 6, 30), LAST)
    resources = {"warehouse": WarehouseResource(database_url=api.url)}
    result = dg.materialize([wealth_projection], partition_key="2026-11-30", resources=resources)
    assert result.success
    [materialization] = result.asset_materializations_for_node("wealth_projection")
    metadata = materialization.metadata
    assert metadata["week"].value == "2026-W49"
    assert metadata["users"].value == 2
    assert metadata["first_user_inputs"].value["method"] == "parametric"
    [check] = result.get_asset_check_evaluations()
    assert check.passed
    with api.engine.connect() as connection:
        counts = dict(connection.execute(
            select(projection_bands.c.user_id, func.count()).group_by(projection_bands.c.user_id)
        ).all())  # fmt: skip
        goal = connection.execute(select(projection_goal_results)).one()
        seeds = connection.execute(select(projection_runs.c.seed)).scalars().all()
    assert counts == {api.ids.alice: 601, api.ids.bob: 601}
    assert goal.name == "Car" and goal.paths == 10_000
    # A re-run replaces the week's rows with the same numbers.
    again = dg.materialize([wealth_projection], partition_key="2026-11-30", resources=resources)
    assert again.success
    with api.engine.begin() as connection:
        assert connection.execute(select(projection_runs.c.seed)).scalars().all() == seeds
        assert band_problems(connection, "2026-W49") == []
        connection.execute(
            update(projection_bands)
            .where(projection_bands.c.user_id == api.ids.alice, projection_bands.c.month == 7)
            .values(p5=Decimal("99999999"))
        )
        connection.execute(
            update(projection_bands)
            .where(projection_bands.c.user_id == api.ids.bob, projection_bands.c.month == 0)
            .values(p5=Decimal("1"), p25=Decimal("1"), p50=Decimal("1"), p75=Decimal("1"), p95=Decimal("1"))
        )  # fmt: skip
        problems = band_problems(connection, "2026-W49")
    assert {(p["user_id"], p["month"]) for p in problems} == {(api.ids.alice, 7), (api.ids.bob, 0)}


def test_a_user_without_net_worth_gets_a_clear_answer(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    from wealth_pipeline.warehouse.schema import mart_breakdowns

    with api.engine.begin() as connection:
        connection.execute(mart_breakdowns.delete().where(mart_breakdowns.c.user_id == api.ids.bob))
    answer = api.get("/api/wealth/projection/", username="bob")
    assert answer.status_code == 404 and "wealth marts build" in answer.json()["detail"]
    result = run("projection", "--user", "bob")
    assert result.exit_code == 1 and "no net worth" in result.output


def test_saving_and_returns_come_from_the_cash_flows_work(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The contract with `wealth_pipeline.returns.monthly`: the median net external flow of the
    last 12 complete months is the saving; 36 complete months of time-weighted returns switch
    the method to the bootstrap (here a stand-in module with made-up series)."""
    import sys
    import types

    import pandas as pd

    calls = []
    months = list(pd.date_range("2021-12-31", periods=37, freq="ME").date)  # through 2024-12-31

    def flows(connection, user_id):
        calls.append(("flows", user_id))
        return pd.Series([Decimal(100 * (i % 5)) for i in range(37)], index=months, dtype=object)

    def returns(connection, user_id):
        calls.append(("returns", user_id))
        return pd.Series([0.004 + 0.01 * ((i % 3) - 1) for i in range(37)], index=months)

    stand_in = types.ModuleType("wealth_pipeline.returns.monthly")
    stand_in.monthly_net_external_flows = flows
    stand_in.monthly_time_weighted_returns = returns
    monkeypatch.setitem(sys.modules, "wealth_pipeline.returns.monthly", stand_in)
    body = api.get("/api/wealth/projection/").json()
    inputs = body["inputs"]
    # The last 12 months (2024-01 .. 2024-12, i = 25..36): 0,100,200,300,400,0,...,100: median 150.
    assert inputs["monthly_saving"] == "150.00" and inputs["saving_source"] == "flows"
    assert inputs["method"] == "bootstrap" and "37 months" in inputs["method_reason"]
    assert inputs["parameters"]["months"] == 37
    assert ("flows", api.ids.alice) in calls and ("returns", api.ids.alice) in calls
    parametric = api.get("/api/wealth/projection/", params={"method": "parametric"}).json()
    assert parametric["inputs"]["method"] == "parametric"


def test_spending_comes_from_a_years_bank_statements_when_not_set(api: Api) -> None:
    """Without a spending figure, a current account whose statements cover the whole last
    year gives one: its outflows, less transfers to the user's own accounts."""
    from wealth_pipeline.warehouse.schema import cash_flow_coverage, cash_flows

    def flow(account: int, day: date, amount: str, kind: str, base: str | None = "x") -> dict:
        return {
            "account_id": account, "flow_date": day, "amount": Decimal(amount),
            "currency": "EUR", "kind": kind, "source": "import", "base_currency": "EUR",
            "amount_base_currency": Decimal(amount) if base else None,
        }  # fmt: skip

    giro, savings = api.ids.giro, api.ids.savings
    with api.engine.begin() as connection:
        connection.execute(
            cash_flow_coverage.insert().values(
                account_id=giro, covered_from=date(2024, 1, 1), covered_through=LAST
            )
        )
        connection.execute(
            cash_flows.insert(),
            [
                flow(giro, date(2024, 3, 1), "-1000", "withdrawal"),
                flow(giro, date(2024, 9, 1), "-1500.25", "withdrawal"),
                flow(giro, date(2024, 12, 1), "-9.75", "fee"),
                flow(giro, date(2024, 12, 2), "3000", "deposit"),  # income, not spending
                flow(giro, date(2023, 12, 1), "-7777", "withdrawal"),  # before the year
            ],
        )
        out = connection.execute(
            cash_flows.insert().values(**flow(giro, date(2024, 6, 1), "-500", "transfer_out"))
        ).inserted_primary_key[0]
        into = connection.execute(
            cash_flows.insert().values(**flow(savings, date(2024, 6, 2), "500", "transfer_in"))
        ).inserted_primary_key[0]
        connection.execute(
            update(cash_flows).where(cash_flows.c.id == out).values(paired_flow_id=into)
        )
        connection.execute(
            update(cash_flows).where(cash_flows.c.id == into).values(paired_flow_id=out)
        )
    stop = api.get("/api/wealth/projection/").json()["stop_working"]
    assert stop["yearly_spending"] == "2510.00"
    assert stop["spending_source"] == "your bank statements, the last 12 months"
    # A figure of the person's own wins over the statements.
    with api.engine.begin() as connection:
        update_settings(connection, api.ids.alice, LAST, yearly_spending=Decimal("9000"))
    stop = api.get("/api/wealth/projection/").json()["stop_working"]
    assert stop["yearly_spending"] == "9000.00"
    assert stop["spending_source"] == "your projection settings"
    # Without it, an outflow without a rate leaves no figure rather than too low a one.
    with api.engine.begin() as connection:
        update_settings(connection, api.ids.alice, LAST, yearly_spending=None)
        connection.execute(
            cash_flows.insert().values(**flow(giro, date(2024, 10, 1), "-50", "other", base=None))
        )
    assert api.get("/api/wealth/projection/").json()["stop_working"] is None
