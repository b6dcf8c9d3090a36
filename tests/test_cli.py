"""The `wealth` command line on a fresh home: init, db upgrade/current, fx backfill and rate."""

from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from tests.support.data import ECB_SAMPLE
from wealth_pipeline.cli import main
from wealth_pipeline.warehouse.engine import get_engine, head_revision
from wealth_pipeline.warehouse.schema import exchange_rates


@pytest.fixture
def fresh_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A WEALTH_HOME with nothing in it yet."""
    monkeypatch.setenv("WEALTH_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("WEALTH_DATABASE_URL", raising=False)
    # Set (not deleted) so the CLI's export of DAGSTER_HOME is undone after each test.
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home" / "dagster"))
    monkeypatch.setenv("WEALTH_FX_SOURCE", "ecb_file")
    monkeypatch.setenv("WEALTH_ECB_FILE", str(ECB_SAMPLE))
    return tmp_path / "home"


@pytest.fixture
def home(fresh_home: Path) -> Path:
    """A WEALTH_HOME after `wealth init`."""
    assert run("init").exit_code == 0
    return fresh_home


def run(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_db_upgrade_then_current(fresh_home: Path) -> None:
    home = fresh_home
    first = run("db", "upgrade")
    assert first.exit_code == 0 and "upgraded empty -> " in first.output
    assert (home / "warehouse.sqlite").exists()
    again = run("db", "upgrade")
    assert "already at" in again.output
    current = run("db", "current")
    assert current.exit_code == 0 and current.output.startswith(f"current {head_revision()}")


def test_db_upgrade_on_postgres(postgres_server_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEALTH_DATABASE_URL", postgres_server_url)
    result = run("db", "upgrade")
    assert result.exit_code == 0
    assert "postgresql" in result.output and head_revision() in result.output


def test_init_creates_dagster_home(fresh_home: Path) -> None:
    home = fresh_home
    result = run("init")
    assert result.exit_code == 0
    assert (home / "dagster" / "dagster.yaml").read_text().count("telemetry") == 1


def test_backfill_records_one_run_and_skips_what_is_done(home: Path) -> None:
    result = run("fx", "backfill", "--start", "2024-01-08", "--end", "2024-01-14")
    assert result.exit_code == 0, result.output
    assert "Done: run" in result.output
    with get_engine(f"sqlite:///{home / 'warehouse.sqlite'}").connect() as connection:
        days = connection.execute(
            select(func.count(func.distinct(exchange_rates.c.rate_date)))
        ).scalar()
    assert days == 5  # Monday to Friday; the weekend published nothing
    again = run("fx", "backfill", "--start", "2024-01-08", "--end", "2024-01-14", "--missing-only")
    assert "already materialized" in again.output


def test_backfill_of_unpublished_days_is_skipped_clearly(home: Path) -> None:
    result = CliRunner().invoke(
        main, ["fx", "backfill", "--start", "2026-11-02", "--end", "2026-11-03"]
    )
    assert result.exit_code == 0  # nothing failed: the days are skipped, saying why
    assert "Skipped: No ECB rates yet for TARGET business day(s) 2026-11-02, 2026-11-03" in (
        result.output
    )
    assert "Traceback" not in result.output


def test_rate_and_conversion(home: Path) -> None:
    run("fx", "backfill", "--start", "2024-01-10", "--end", "2024-01-13")
    result = run("fx", "rate", "usd", "chf", "--date", "2024-01-13", "--amount", "100")
    assert result.exit_code == 0
    assert "(ECB rates of 2024-01-12)" in result.output
    assert "100 USD = " in result.output


def test_rate_errors_are_explicit(home: Path) -> None:
    run("db", "upgrade")
    unknown = CliRunner().invoke(main, ["fx", "rate", "USD", "XYZ", "--date", "2024-01-12"])
    assert unknown.exit_code == 1 and "unknown currency XYZ" in unknown.output
    bad_date = CliRunner().invoke(main, ["fx", "rate", "USD", "CHF", "--date", "12.01.2024"])
    assert bad_date.exit_code == 2 and "not a date" in bad_date.output


def test_commands_never_create_a_warehouse_in_a_new_home(
    fresh_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A mistyped or forgotten WEALTH_HOME says so instead of starting an empty warehouse;
    `wealth init` is what creates one."""
    for args in (("summary",), ("users", "list"), ("fx", "rate", "USD", "CHF"), ("db", "current")):
        result = run(*args)
        assert result.exit_code == 1, (args, result.output)
        assert f"there is no warehouse at {fresh_home / 'warehouse.sqlite'}" in result.output
        assert "`wealth init` creates one there" in result.output
        assert not fresh_home.exists(), args
    # `wealth demo setup` may start one, and says so.
    demo = run("demo", "setup", "--days", "3")
    assert demo.exit_code == 0, demo.output
    assert f"New warehouse at {fresh_home / 'warehouse.sqlite'}" in demo.output
    assert "New warehouse" not in run("demo", "setup", "--days", "3").output
    assert run("users", "list").exit_code == 0
    # The default home holds a warehouse: the message names it.
    monkeypatch.setattr("wealth_pipeline.settings.default_home", lambda: fresh_home)
    monkeypatch.setenv("WEALTH_HOME", str(tmp_path / "typo"))
    result = run("summary")
    assert result.exit_code == 1
    assert f"your default WEALTH_HOME {fresh_home} holds one" in result.output
    assert not (tmp_path / "typo").exists()
