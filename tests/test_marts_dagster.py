"""The marts in Dagster: one asset per model built in one run, and what keeps them fresh:
their automation condition and the change-log sensor (on SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import dagster as dg
import pytest
from dagster._core.storage.dagster_run import DagsterRun
from dagster._core.utils import make_new_run_id
from sqlalchemy import delete, update

from tests.support.automation import Automation
from tests.support.marts import END, make_world, marts
from wealth_pipeline.clock import today
from wealth_pipeline.marts import build_marts
from wealth_pipeline.marts.assets import breakdowns_add_up, marts_assets, marts_job, marts_sensor
from wealth_pipeline.marts.changes import record_mart_change
from wealth_pipeline.warehouse.engine import get_engine
from wealth_pipeline.warehouse.resource import WarehouseResource
from wealth_pipeline.warehouse.schema import mart_breakdowns

BERLIN = ZoneInfo("Europe/Berlin")
MODELS = {
    "mart_account_daily",
    "mart_net_worth_daily",
    "mart_net_worth_monthly",
    "mart_breakdowns",
    "mart_holdings",
    "mart_returns_daily",
}


def test_one_asset_per_model_with_its_refs_as_deps() -> None:
    specs = {spec.key.to_user_string(): spec for spec in marts_assets.specs}
    assert set(specs) == MODELS
    deps = {
        key: {dep.asset_key.to_user_string() for dep in spec.deps} for key, spec in specs.items()
    }
    assert deps["mart_net_worth_monthly"] == {"mart_net_worth_daily"}
    assert deps["mart_net_worth_daily"] == {"mart_returns_daily"}  # reads its sums
    assert deps["mart_account_daily"] == {"converted_snapshots", "account_cash_flows"}
    assert deps["mart_breakdowns"] >= {"mart_account_daily", "converted_snapshots"}
    assert deps["mart_returns_daily"] == {"mart_account_daily"}
    for spec in specs.values():
        assert "sql" in spec.kinds
        assert spec.group_name == "marts"
        assert spec.description
    assert marts_assets.partitions_def is None  # not day-partitioned
    policy = marts_assets.op.retry_policy  # idempotent: transient failures retry
    assert policy is not None and policy.max_retries == 2


def test_materializing_builds_every_model_with_rows_written(warehouse_url: str) -> None:
    engine = get_engine(warehouse_url)
    make_world(engine)
    warehouse = WarehouseResource(database_url=warehouse_url)
    config = {"ops": {"marts": {"config": {"as_of": END.isoformat()}}}}
    result = dg.materialize([marts_assets], resources={"warehouse": warehouse}, run_config=config)
    assert result.success
    written = {
        event.asset_key.to_user_string(): event.materialization.metadata["rows_written"].value
        for event in result.get_asset_materialization_events()
    }
    expected = {name: len(rows) for name, rows in marts(engine).items()}
    # the returns total: one row per user-day (the accounts' are mart_account_daily's rows)
    expected |= {"mart_returns_daily": 8}
    assert written == expected
    assert written["mart_account_daily"] == 20  # alice 14, bob 6
    checks = {c.check_name: c.passed for c in result.get_asset_check_evaluations()}
    assert checks == {"breakdowns_add_up": True, "returns_add_up": True}

    again = dg.materialize([marts_assets], resources={"warehouse": warehouse}, run_config=config)
    assert {
        event.materialization.metadata["rows_written"].value
        for event in again.get_asset_materialization_events()
    } == {0}
    full = {"ops": {"marts": {"config": {"as_of": END.isoformat(), "full": True}}}}
    rebuilt = dg.materialize([marts_assets], resources={"warehouse": warehouse}, run_config=full)
    assert {
        event.asset_key.to_user_string(): event.materialization.metadata["rows_written"].value
        for event in rebuilt.get_asset_materialization_events()
    } == expected


@pytest.mark.parametrize(
    ("config", "message"),
    [({"as_of": "2024-02-30"}, "2024-02-30"), ({"users": [999_999]}, "no such user: 999999")],
)
def test_bad_run_config_fails_clearly_and_builds_nothing(
    sqlite_url: str, config: dict, message: str
) -> None:
    engine = get_engine(sqlite_url)
    make_world(engine)
    result = dg.materialize(
        [marts_assets],
        resources={"warehouse": WarehouseResource(database_url=sqlite_url)},
        run_config={"ops": {"marts": {"config": config}}},
        raise_on_error=False,
    )
    assert not result.success
    [failure] = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert message in failure.step_failure_data.error.message
    assert all(not rows for rows in marts(engine).values())


def test_the_job_selects_the_marts() -> None:
    defs = dg.Definitions(
        assets=[marts_assets],
        jobs=[marts_job],
        resources={"warehouse": WarehouseResource(database_url="sqlite://")},
    )
    job = defs.resolve_job_def("marts_job")
    assert {key.to_user_string() for key in job.asset_layer.executable_asset_keys} == MODELS


def _tick(url: str, instance: dg.DagsterInstance):
    context = dg.build_sensor_context(
        instance=instance, resources={"warehouse": WarehouseResource(database_url=url)}
    )
    return marts_sensor.evaluate_tick(context)


def test_the_sensor_launches_a_build_for_changes_dagster_cannot_see(warehouse_url: str) -> None:
    """The change log (a base-currency change, a correction job, a manual entry): a build,
    unless one is already queued or running, from the job or from the automation."""
    engine = get_engine(warehouse_url)
    world = make_world(engine)
    assert marts_sensor.default_status == dg.DefaultSensorStatus.RUNNING
    with dg.DagsterInstance.ephemeral() as instance:
        build_marts(engine)  # through today
        fresh = _tick(warehouse_url, instance)
        assert fresh.run_requests == [] and "no change" in (fresh.skip_message or "")

        with engine.begin() as connection:  # a new snapshot, an import, a conversion...
            record_mart_change(connection, world.alice, END, "a new snapshot")
        [request] = _tick(warehouse_url, instance).run_requests
        assert "1 user(s) changed" in request.run_key
        assert request.tags["wealth/trigger"] == "marts_sensor"

        # A build already running: no second one (the change waits for the next tick).
        for run in (
            DagsterRun(job_name=marts_job.name, run_id=make_new_run_id()),
            DagsterRun(  # the automation's run of the marts' assets
                job_name="__ASSET_JOB",
                run_id=make_new_run_id(),
                asset_selection=frozenset(marts_assets.keys),
            ),
        ):
            instance.add_run(run._replace(status=dg.DagsterRunStatus.STARTED))
            busy = _tick(warehouse_url, instance)
            assert busy.run_requests == [] and "already running" in (busy.skip_message or "")
            instance.report_run_failed(run)

        build_marts(engine)
        assert _tick(warehouse_url, instance).run_requests == []
        # The day's roll-over is the automation condition's, not the sensor's.
        build_marts(engine, as_of=today() - timedelta(days=1))
        assert _tick(warehouse_url, instance).run_requests == []


def test_the_marts_follow_the_converted_snapshots_and_the_day() -> None:
    """Requested after new conversions (or cash flows), and once after midnight in Berlin."""
    evening = datetime(2024, 1, 15, 18, tzinfo=BERLIN)
    with dg.instance_for_test() as instance:
        automation = Automation(instance, evening, [marts_assets])
        assert automation.tick() == {}
        instance.report_runless_asset_event(
            dg.AssetMaterialization("converted_snapshots", partition="2024-01-15")
        )
        requested = automation.tick()
        assert set(requested) == MODELS  # the models build together, in one run
        assert automation.tick() == {}  # requested once
        for key in marts_assets.keys:  # the build ran
            instance.report_runless_asset_event(dg.AssetMaterialization(key))
        assert automation.tick() == {}
        instance.report_runless_asset_event(  # new rates reach the marts as conversions
            dg.AssetMaterialization("exchange_rates", partition="2024-01-15")
        )
        assert automation.tick() == {}
        instance.report_runless_asset_event(
            dg.AssetMaterialization("account_cash_flows", partition="2024-01-15")
        )
        assert set(automation.tick()) == MODELS
        automation.now = evening.replace(hour=23, minute=50)
        assert automation.tick() == {}
        automation.now = evening + timedelta(hours=6, minutes=5)  # 00:05 on the 16th
        assert set(automation.tick()) == MODELS


@pytest.mark.parametrize("pending", [False, True])
def test_the_sensor_asks_one_small_query(warehouse_url: str, pending: bool) -> None:
    engine = get_engine(warehouse_url)
    world = make_world(engine)
    build_marts(engine)
    if pending:
        with engine.begin() as connection:
            record_mart_change(connection, world.bob, END, "x")
    statements: list[str] = []

    from sqlalchemy import event

    def count(conn, cursor, statement, *args):
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        with dg.DagsterInstance.ephemeral() as instance:
            _tick(warehouse_url, instance)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert [s for s in statements if "mart_" in s] == [statements[-1]]
    assert len([s for s in statements if "mart_" in s]) == 1


def test_the_check_finds_a_breakdown_that_does_not_add_up(warehouse_url: str) -> None:
    engine = get_engine(warehouse_url)
    world = make_world(engine)
    build_marts(engine, as_of=END)
    warehouse = WarehouseResource(database_url=warehouse_url)
    assert breakdowns_add_up(warehouse).passed
    with engine.begin() as connection:
        connection.execute(
            update(mart_breakdowns)
            .where(
                mart_breakdowns.c.user_id == world.bob, mart_breakdowns.c.dimension == "currency"
            )
            .values(amount=Decimal("91"))
        )
    check = breakdowns_add_up(warehouse)
    assert not check.passed
    assert check.metadata["first"].value == [{"user_id": world.bob, "dimension": "currency"}]


def test_the_check_finds_a_dimension_missing_altogether(warehouse_url: str) -> None:
    """A user with a net worth but no rows of one dimension: that breakdown adds up to 0."""
    engine = get_engine(warehouse_url)
    world = make_world(engine)
    build_marts(engine, as_of=END)
    warehouse = WarehouseResource(database_url=warehouse_url)
    with engine.begin() as connection:
        connection.execute(
            delete(mart_breakdowns).where(
                mart_breakdowns.c.user_id == world.alice,
                mart_breakdowns.c.dimension == "asset_class",
            )
        )
    check = breakdowns_add_up(warehouse)
    assert not check.passed
    assert check.metadata["first"].value == [{"user_id": world.alice, "dimension": "asset_class"}]
