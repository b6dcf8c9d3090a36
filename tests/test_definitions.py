"""What Dagster loads (`wealth_pipeline.definitions`) and the settings it is built from."""

from __future__ import annotations

import json
import os
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg
import pytest
from sqlalchemy import select

from tests.support.data import ECB_SAMPLE
from wealth_pipeline import definitions
from wealth_pipeline.definitions import build_definitions
from wealth_pipeline.fx.ecb_file import read_ecb_bytes
from wealth_pipeline.fx.sources import EcbFileRates, ExcerptThenLive, FrankfurterRates
from wealth_pipeline.partitions import daily_partitions
from wealth_pipeline.resources import resources
from wealth_pipeline.settings import (
    FRANKFURTER_PUBLIC_URL,
    SHIPPED_ECB_EXCERPT,
    load_settings,
)
from wealth_pipeline.warehouse.engine import get_engine
from wealth_pipeline.warehouse.resource import WarehouseResource
from wealth_pipeline.warehouse.schema import exchange_rates as rates_table

BERLIN = ZoneInfo("Europe/Berlin")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No WEALTH_* or Dagster settings from the caller's environment; a home of our own."""
    for name in list(os.environ):
        if name.startswith("WEALTH_") and name != "WEALTH_TEST_POSTGRES_URL":
            monkeypatch.delenv(name)
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    monkeypatch.setenv("WEALTH_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


# --- settings ---------------------------------------------------------------------------


def test_default_settings_are_the_embedded_setup(clean_env: Path) -> None:
    settings = load_settings()
    assert settings.home == clean_env
    assert settings.database_url == f"sqlite:///{clean_env / 'warehouse.sqlite'}"
    assert settings.fx_source == "auto"  # the shipped excerpt, then Frankfurter for later days
    assert settings.ecb_file == str(SHIPPED_ECB_EXCERPT)
    assert settings.frankfurter_url == FRANKFURTER_PUBLIC_URL
    assert (settings.http_timeout_seconds, settings.http_max_attempts) == (20.0, 5)
    assert settings.http_backoff_seconds == 1.0
    assert settings.schedules_running is True  # the demo starts them running
    assert settings.dagster_home == clean_env / "dagster"


def test_home_defaults_under_xdg_data_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("WEALTH_HOME")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    assert load_settings().home == tmp_path / "data" / "wealth-pipeline"


def test_dagster_home_follows_dagster_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "elsewhere"))
    assert load_settings().dagster_home == tmp_path / "elsewhere"


def test_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("WEALTH_DATABASE_URL", "postgresql+psycopg://u@db/wealth")
    monkeypatch.setenv("WEALTH_FX_SOURCE", " frankfurter ")  # surrounding blanks are ignored
    monkeypatch.setenv("WEALTH_FRANKFURTER_URL", "http://rates.local/v1")
    monkeypatch.setenv("WEALTH_HTTP_TIMEOUT_SECONDS", "2.5")
    monkeypatch.setenv("WEALTH_HTTP_MAX_ATTEMPTS", "3")
    monkeypatch.setenv("WEALTH_HTTP_BACKOFF_SECONDS", "0")
    settings = load_settings()
    assert settings.database_url == "postgresql+psycopg://u@db/wealth"
    assert settings.fx_source == "frankfurter"
    assert settings.frankfurter_url == "http://rates.local/v1"
    assert (settings.http_timeout_seconds, settings.http_max_attempts) == (2.5, 3)
    assert settings.http_backoff_seconds == 0.0


def test_blank_settings_fall_back_to_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "WEALTH_FX_SOURCE",
        "WEALTH_ECB_FILE",
        "WEALTH_SCHEDULES_RUNNING",
        "WEALTH_HTTP_MAX_ATTEMPTS",
    ):
        monkeypatch.setenv(name, "  ")
    settings = load_settings()
    assert settings.fx_source == "auto"
    assert settings.ecb_file == str(SHIPPED_ECB_EXCERPT)
    assert settings.schedules_running is True
    assert settings.http_max_attempts == 5


@pytest.mark.parametrize("value", ["ecb", "Frankfurter", "ECB_FILE", "frankfurter.dev"])
def test_unknown_fx_source_is_refused_clearly(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("WEALTH_FX_SOURCE", value)
    with pytest.raises(
        ValueError, match=r"WEALTH_FX_SOURCE must be one of auto, ecb_file, frankfurter"
    ) as error:
        load_settings()
    assert repr(value) in str(error.value)
    with pytest.raises(ValueError, match="WEALTH_FX_SOURCE"):
        build_definitions()


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("WEALTH_SCHEDULES_RUNNING", "maybe"),
        ("WEALTH_HTTP_MAX_ATTEMPTS", "many"),
        ("WEALTH_HTTP_MAX_ATTEMPTS", "0"),  # no attempt at all would fail every fetch unseen
        ("WEALTH_HTTP_MAX_ATTEMPTS", "2.5"),
        ("WEALTH_HTTP_TIMEOUT_SECONDS", "soon"),
        ("WEALTH_HTTP_TIMEOUT_SECONDS", "0"),
        ("WEALTH_HTTP_TIMEOUT_SECONDS", "-1"),
        ("WEALTH_HTTP_TIMEOUT_SECONDS", "nan"),
        ("WEALTH_HTTP_BACKOFF_SECONDS", "-0.5"),
        ("WEALTH_HTTP_BACKOFF_SECONDS", "inf"),
        ("WEALTH_FX_REFRESH_CRON", "30 16 * *"),
        ("WEALTH_FX_REFRESH_CRON", "every evening"),
        ("WEALTH_SENSOR_INTERVAL_SECONDS", "0"),
        ("WEALTH_SENSOR_INTERVAL_SECONDS", "soon"),
    ],
)
def test_bad_values_are_refused_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match=name):
        load_settings()


@pytest.mark.parametrize(
    ("env", "running"),
    [
        ({}, True),  # also on the shipped excerpt: its ticks skip what it cannot have
        ({"WEALTH_FX_SOURCE": "frankfurter"}, True),
        ({"WEALTH_FX_SOURCE": "ecb_file"}, True),
        ({"WEALTH_ECB_FILE": "https://www.ecb.europa.eu/stats/eurofxref/eurofxref-hist.zip"}, True),
        ({"WEALTH_ECB_FILE": str(SHIPPED_ECB_EXCERPT)}, True),
        ({"WEALTH_FX_SOURCE": "frankfurter", "WEALTH_SCHEDULES_RUNNING": "false"}, False),
        ({"WEALTH_SCHEDULES_RUNNING": "yes"}, True),
        ({"WEALTH_SCHEDULES_RUNNING": "OFF"}, False),
    ],
)
def test_schedules_run_by_default_and_can_be_switched_off(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], running: bool
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert load_settings().schedules_running is running
    definitions = build_definitions(load_settings())
    expected = dg.DefaultScheduleStatus.RUNNING if running else dg.DefaultScheduleStatus.STOPPED
    for name in ("exchange_rates_daily", "daily_sync"):
        assert definitions.resolve_schedule_def(name).default_status == expected


# --- resources ------------------------------------------------------------------------


def test_resources_on_the_default_settings(clean_env: Path) -> None:
    built = resources(load_settings())
    assert set(built) == {"fx_source", "warehouse", "sync", "mail"}
    assert built["sync"].sync_key_file == str(clean_env / "keys" / "sync_key.pem")
    source = built["fx_source"]
    assert type(source) is ExcerptThenLive
    assert source.excerpt == str(SHIPPED_ECB_EXCERPT)
    assert source.base_url == FRANKFURTER_PUBLIC_URL
    assert source.offline is False  # online by default; WEALTH_OFFLINE=true stays offline
    assert (source.timeout_seconds, source.max_attempts, source.backoff_seconds) == (20.0, 5, 1.0)
    warehouse = built["warehouse"]
    assert isinstance(warehouse, WarehouseResource)
    assert warehouse.database_url == f"sqlite:///{clean_env / 'warehouse.sqlite'}"


def test_fx_source_follows_wealth_fx_source(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEALTH_FX_SOURCE", "frankfurter")
    monkeypatch.setenv("WEALTH_FRANKFURTER_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("WEALTH_HTTP_MAX_ATTEMPTS", "2")
    monkeypatch.setenv("WEALTH_HTTP_TIMEOUT_SECONDS", "3")
    monkeypatch.setenv("WEALTH_HTTP_BACKOFF_SECONDS", "0.25")
    source = build_definitions(load_settings()).resources["fx_source"]
    assert type(source) is FrankfurterRates
    # Given to Dagster as the variable (a URL may carry credentials); read where it runs.
    assert source.base_url == dg.EnvVar("WEALTH_FRANKFURTER_URL")
    assert source.base_url.get_value() == "http://127.0.0.1:9/v1"
    assert (source.timeout_seconds, source.max_attempts, source.backoff_seconds) == (3.0, 2, 0.25)

    monkeypatch.setenv("WEALTH_FX_SOURCE", "ecb_file")
    monkeypatch.setenv("WEALTH_ECB_FILE", str(ECB_SAMPLE))
    source = build_definitions(load_settings()).resources["fx_source"]
    assert type(source) is EcbFileRates
    assert source.location.get_value() == str(ECB_SAMPLE)


def test_the_shipped_excerpt_is_readable_ecb_rates() -> None:
    rates = read_ecb_bytes(SHIPPED_ECB_EXCERPT.read_bytes(), str(SHIPPED_ECB_EXCERPT))
    assert len(rates) > 100
    assert all("USD" in day_rates for day_rates in rates.values())


# --- the definitions ------------------------------------------------------------------


SURFACE = Path(__file__).parent / "data" / "definitions_surface.json"


def _condition(condition: dg.AutomationCondition | None) -> str | None:
    """An automation condition as one line: its label, operators and operands."""
    if condition is None:
        return None
    text = condition.name
    if condition.get_label():
        text = f"{condition.get_label()}: {text}"
    if condition.children:
        return f"{text}({', '.join(_condition(child) or '' for child in condition.children)})"
    return text


def _partitions(partitions: dg.PartitionsDefinition | None) -> str | None:
    return None if partitions is None else str(partitions)


def surface(defs: dg.Definitions) -> dict:
    """Everything the definitions offer a person in the UI, by name: assets (group, deps,
    partitions, automation condition), checks, jobs (their assets), schedules, sensors."""
    graph = defs.resolve_asset_graph()
    assets = {}
    for key in sorted(graph.get_all_asset_keys()):
        node = graph.get(key)
        assets[key.to_user_string()] = {
            "group": node.group_name,
            "deps": sorted(parent.to_user_string() for parent in node.parent_keys),
            "partitions": _partitions(node.partitions_def),
            "automation_condition": _condition(node.automation_condition),
            "kinds": sorted(node.kinds),
        }
    checks = {
        f"{check.asset_key.to_user_string()}:{check.name}": _partitions(
            graph.get(check).partitions_def
        )
        for check in sorted(graph.asset_check_keys, key=lambda c: (c.asset_key, c.name))
    }
    jobs = {}
    for job in sorted(defs.resolve_all_job_defs(), key=lambda j: j.name):
        if job.name.startswith("__"):
            continue
        keys = job.asset_layer.executable_asset_keys if job.asset_layer else set()
        jobs[job.name] = sorted(key.to_user_string() for key in keys)
    schedules = {
        schedule.name: {
            "cron": schedule.cron_schedule,
            "timezone": schedule.execution_timezone,
            "job": schedule.job_name,
            "default_status": schedule.default_status.value,
        }
        for schedule in sorted(
            (defs.resolve_schedule_def(s.name) for s in defs.schedules or []),
            key=lambda s: s.name,
        )
    }
    sensors = {
        sensor.name: {
            "kind": type(sensor).__name__,
            "minimum_interval_seconds": sensor.minimum_interval_seconds,
            "default_status": sensor.default_status.value,
            "jobs": sorted(target.job_name for target in sensor.targets),
            "resources": sorted(sensor.required_resource_keys),
        }
        for sensor in sorted(defs.sensors or [], key=lambda s: s.name)
    }
    return {
        "assets": assets,
        "asset_checks": checks,
        "jobs": jobs,
        "schedules": schedules,
        "sensors": sensors,
        "resources": sorted(defs.resources or {}),
    }


def test_the_definitions_surface_is_the_snapshot() -> None:
    """The whole surface against tests/data/definitions_surface.json. A deliberate change:
    `UPDATE_DEFINITIONS_SURFACE=1 pytest tests/test_definitions.py`, then review the diff."""
    defs = build_definitions(load_settings())
    dg.Definitions.validate_loadable(defs)
    found = surface(defs)
    if os.environ.get("UPDATE_DEFINITIONS_SURFACE") == "1":
        SURFACE.write_text(json.dumps(found, indent=2, sort_keys=True) + "\n")
    assert found == json.loads(SURFACE.read_text())


def test_the_lineage_the_data_follows() -> None:
    """Facts as received, their conversion at the rates of its window, then the marts."""
    graph = build_definitions(load_settings()).resolve_asset_graph()

    def parents(name: str) -> set[str]:
        return {key.to_user_string() for key in graph.get(dg.AssetKey(name)).parent_keys}

    assert parents("account_balances") == parents("account_positions") == set()
    assert parents("converted_snapshots") == {
        "account_balances",
        "account_positions",
        "exchange_rates",
    }
    assert "converted_snapshots" in parents("mart_account_daily")
    assert "mart_net_worth_daily" in parents("weekly_report")
    rates = graph.get(dg.AssetKey("converted_snapshots"))
    # A rate of day R concerns the days R .. R + 14: day D reads the rates of D - 14 .. D.
    window = graph.get_partition_mapping(
        dg.AssetKey("converted_snapshots"), dg.AssetKey("exchange_rates")
    )
    assert window == dg.TimeWindowPartitionMapping(start_offset=-14, end_offset=0)
    upstream = window.get_upstream_mapped_partitions_result_for_partitions(
        rates.partitions_def.subset_with_partition_keys(["2024-01-20"]),
        rates.partitions_def,
        daily_partitions,
    ).partitions_subset.get_partition_keys()
    assert (upstream[0], upstream[-1], len(upstream)) == ("2024-01-06", "2024-01-20", 15)


def test_module_definitions_are_what_workspace_loads() -> None:
    assert isinstance(definitions.defs, dg.Definitions)
    assert surface(definitions.defs) == surface(build_definitions(load_settings()))


def test_exchange_rates_asset_definition() -> None:
    asset = build_definitions(load_settings()).resolve_assets_def("exchange_rates")
    [spec] = asset.specs
    assert spec.group_name == "fx"
    assert spec.kinds == {"python", "sql"}
    assert spec.tags.get("domain") == "fx"
    assert spec.description and "ECB euro reference rates" in spec.description
    assert "idempotent" in spec.description
    assert asset.backfill_policy == dg.BackfillPolicy.single_run()
    assert set(asset.required_resource_keys) >= {"fx_source", "warehouse"}

    partitions = asset.partitions_def
    assert partitions is daily_partitions
    assert isinstance(partitions, dg.DailyPartitionsDefinition)
    assert partitions.timezone == "Europe/Berlin"
    assert partitions.start.date().isoformat() == "1999-01-04"
    assert partitions.end_offset == 1
    assert partitions.get_first_partition_key() == "1999-01-04"
    # end_offset=1: today's partition (Berlin) exists from midnight, tomorrow's does not.
    now = datetime(2024, 1, 15, 0, 5, tzinfo=BERLIN)
    assert partitions.get_partition_keys(current_time=now)[-1] == "2024-01-15"


def test_exchange_rates_job() -> None:
    job = build_definitions(load_settings()).resolve_job_def("exchange_rates_job")
    assert job.partitions_def == daily_partitions
    assert {key.to_user_string() for key in job.asset_layer.executable_asset_keys} == {
        "exchange_rates"
    }
    policy = job.op_retry_policy
    assert policy is not None
    assert policy.max_retries >= 1
    assert (policy.max_retries, policy.delay, policy.backoff, policy.jitter) == (
        4,
        900,
        dg.Backoff.LINEAR,
        dg.Jitter.PLUS_MINUS,
    )


def test_refresh_cron_and_sensor_interval_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What the end-to-end test uses to see a tick and a sensor within minutes."""
    own = {s.name: s for s in build_definitions(load_settings()).sensors}
    assert own["marts_sensor"].minimum_interval_seconds == 60  # each keeps its own
    assert own["automation"].minimum_interval_seconds == 30
    monkeypatch.setenv("WEALTH_FX_REFRESH_CRON", " *  *   * * * ")
    monkeypatch.setenv("WEALTH_SENSOR_INTERVAL_SECONDS", "5")
    defs = build_definitions(load_settings())
    schedule = defs.resolve_schedule_def("exchange_rates_daily")
    assert (schedule.cron_schedule, schedule.execution_timezone) == ("* * * * *", "Europe/Berlin")
    sensors = {s.name: s for s in defs.sensors}
    assert set(sensors) == set(own)
    for name, sensor in sensors.items():  # the same sensor, evaluated more often
        assert sensor.minimum_interval_seconds == 5, name
        assert sensor.required_resource_keys == own[name].required_resource_keys, name
        assert sensor.default_status == own[name].default_status, name
        assert [t.job_name for t in sensor.targets] == [t.job_name for t in own[name].targets]
    dg.Definitions.validate_loadable(defs)


def test_exchange_rates_schedule() -> None:
    schedule = build_definitions(load_settings()).resolve_schedule_def("exchange_rates_daily")
    assert schedule.cron_schedule == "30 16 * * *"
    assert schedule.execution_timezone == "Europe/Berlin"
    assert schedule.job_name == "exchange_rates_job"
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING


def test_the_scheduled_run_refreshes_its_window_end_to_end(
    monkeypatch: pytest.MonkeyPatch, warehouse_url: str
) -> None:
    """The schedule's RunRequest, run through the definitions' own job and resources."""
    monkeypatch.setenv("WEALTH_ECB_FILE", str(ECB_SAMPLE))
    monkeypatch.setenv("WEALTH_DATABASE_URL", warehouse_url)
    defs = build_definitions(load_settings())
    schedule = defs.resolve_schedule_def("exchange_rates_daily")
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING  # an ECB file of its own
    context = dg.build_schedule_context(
        scheduled_execution_time=datetime(2024, 1, 15, 16, 30, tzinfo=BERLIN)
    )
    [request] = schedule.evaluate_tick(context).run_requests

    result = defs.resolve_job_def("exchange_rates_job").execute_in_process(tags=request.tags)
    assert result.success
    assert sorted(e.partition for e in result.get_asset_materialization_events()) == [
        f"2024-01-{day:02d}" for day in range(9, 16)
    ]
    t = rates_table
    with get_engine(warehouse_url).connect() as connection:
        rows = connection.execute(select(t.c.rate_date, t.c.quote_currency, t.c.rate)).all()
    assert {day.isoformat() for day, _, _ in rows} == {
        "2024-01-09",
        "2024-01-10",
        "2024-01-11",
        "2024-01-12",
        "2024-01-15",
    }
    assert len(rows) == 5 * 30
    assert next(
        rate for day, code, rate in rows if day.isoformat() == "2024-01-15" and code == "USD"
    ) == Decimal("1.0945")
