"""`wealth conversions fix` and the reconversion `wealth users set --base-currency` triggers."""

from datetime import date
from decimal import Decimal

import pytest
from click.testing import CliRunner
from sqlalchemy import delete, select

from tests.support import factories
from wealth_pipeline.brokers.catalogue import load_catalogue
from wealth_pipeline.cli import main
from wealth_pipeline.warehouse.engine import get_engine
from wealth_pipeline.warehouse.schema import account_snapshots, exchange_rates


@pytest.fixture
def cli_world(warehouse_url: str, tmp_path, monkeypatch):
    monkeypatch.setenv("WEALTH_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("WEALTH_DATABASE_URL", warehouse_url)
    engine = get_engine(warehouse_url)
    with engine.begin() as connection:
        load_catalogue(connection)
        factories.ecb_rates(connection, date(2023, 12, 20), date(2024, 1, 20))
        owner = factories.user(connection, "alice", "CHF")
        usd = factories.account(
            connection, owner, "manual", f"manual USD {owner.username}", kind="savings", currency="USD"
        )
        for day in (date(2024, 1, 5), date(2024, 1, 8)):
            factories.snapshot(connection, usd, day, "1234.5678", "USD", source="auto")
        for day in (date(2024, 1, 9), date(2024, 1, 10)):
            factories.snapshot(connection, usd, day, "1.0000", "XAU", source="auto")
    return engine


def run(*args: str):
    return CliRunner().invoke(main, list(args), prog_name="wealth")


def amounts(engine) -> list:
    with engine.connect() as connection:
        return list(
            connection.execute(
                select(
                    account_snapshots.c.base_currency, account_snapshots.c.balance_base_currency
                ).order_by(account_snapshots.c.snapshot_date)
            )
        )


def test_fix_dry_run_then_fix(cli_world) -> None:
    dry = run("conversions", "fix", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "Would fix: 2 snapshot(s)" in dry.output
    assert "Skipped: 2" in dry.output
    assert "2 x [2024-01-09..2024-01-10] unknown currency XAU" in dry.output
    assert "Errors: 0" in dry.output
    assert all(amount is None for _base, amount in amounts(cli_world))
    limited = run("conversions", "fix", "--limit", "1", "--user", "alice")
    assert "Fixed: 1 snapshot(s)" in limited.output, limited.output
    done = run("conversions", "fix")
    assert "Fixed: 1 snapshot(s)" in done.output, done.output
    assert [row[1] for row in amounts(cli_world)] == [
        Decimal("1053.5823"),
        Decimal("1049.8225"),  # 0.9308 / 1.0946 on 2024-01-08
        None,
        None,
    ]
    assert run("conversions", "fix", "--user", "nobody").exit_code == 1


def test_base_currency_change_reconverts_history(cli_world) -> None:
    assert run("conversions", "fix").exit_code == 0
    result = run("users", "set", "alice", "--base-currency", "USD")
    assert result.exit_code == 0, result.output
    assert "Reconverted into USD: 2 snapshot(s), 2 without a rate" in result.output
    assert [tuple(row) for row in amounts(cli_world)][:2] == [
        ("USD", Decimal("1234.5678")),
        ("USD", Decimal("1234.5678")),
    ]


def test_fix_refreshes_a_day_converted_before_its_rate_arrived(cli_world) -> None:
    with cli_world.begin() as connection:  # Monday's rate refresh failed before the sync
        connection.execute(
            delete(exchange_rates).where(exchange_rates.c.rate_date > date(2024, 1, 5))
        )
    first = run("conversions", "fix")
    assert "Fixed: 2 snapshot(s)" in first.output, first.output
    assert "Refreshed: 0 snapshot(s)" in first.output, first.output
    assert [row[1] for row in amounts(cli_world)][:2] == [
        Decimal("1053.5823"),
        Decimal("1053.5823"),  # Monday at Friday's rate, provisionally
    ]
    with cli_world.begin() as connection:
        factories.ecb_rates(connection, date(2024, 1, 8), date(2024, 1, 20))
    dry = run("conversions", "fix", "--dry-run")
    assert "Would fix: 0 snapshot(s)" in dry.output, dry.output
    assert "Would refresh: 1 snapshot(s)" in dry.output, dry.output
    assert [row[1] for row in amounts(cli_world)][1] == Decimal("1053.5823")
    done = run("conversions", "fix")
    assert done.exit_code == 0, done.output
    assert "Fixed: 0 snapshot(s)" in done.output, done.output
    assert "Refreshed: 1 snapshot(s)" in done.output, done.output
    assert [row[1] for row in amounts(cli_world)][:2] == [
        Decimal("1053.5823"),
        Decimal("1049.8225"),  # 0.9308 / 1.0946 on 2024-01-08, its own day's rate
    ]
    again = run("conversions", "fix")
    assert "Fixed: 0 snapshot(s)" in again.output and "Refreshed: 0" in again.output
