"""`wealth marts build` and the demo's marts, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import func, select, text

from tests.support.marts import END, make_world, marts
from wealth_pipeline.cli import main
from wealth_pipeline.clock import today
from wealth_pipeline.warehouse.engine import get_engine
from wealth_pipeline.warehouse.schema import mart_holdings, mart_net_worth_daily


@pytest.fixture
def env(warehouse_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("WEALTH_DATABASE_URL", warehouse_url)
    monkeypatch.setenv("WEALTH_HOME", str(tmp_path / "home"))
    return warehouse_url


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), prog_name="wealth")


def test_marts_build_prints_rows_per_model(env: str) -> None:
    make_world(get_engine(env))
    first = run("marts", "build", "--as-of", END.isoformat())
    assert first.exit_code == 0, first.output
    assert "Rebuilt 2 user(s) from their first snapshot through 2024-02-03" in first.output
    assert "mart_account_daily" in first.output and "20 row(s)" in first.output
    assert "mart_net_worth_monthly" in first.output and "3 row(s)" in first.output
    built = marts(get_engine(env))

    again = run("marts", "build", "--as-of", END.isoformat())
    assert again.exit_code == 0, again.output
    assert "Marts up to date through 2024-02-03" in again.output
    assert again.output.count(" 0 row(s)") == 6  # every model, the returns total too

    full = run("marts", "build", "--full", "--user", "bob", "--as-of", END.isoformat())
    assert full.exit_code == 0, full.output
    assert "Rebuilt 1 user(s)" in full.output and "6 row(s)" in full.output
    assert marts(get_engine(env)) == built


def test_marts_build_refuses_bad_input(env: str) -> None:
    make_world(get_engine(env))
    unknown = run("marts", "build", "--user", "nobody")
    assert unknown.exit_code == 1
    assert "no user named 'nobody'" in unknown.output
    bad_day = run("marts", "build", "--as-of", "2024-02-30")
    assert bad_day.exit_code == 2
    assert "is not a date" in bad_day.output
    with get_engine(env).connect() as connection:
        assert (
            connection.execute(select(func.count()).select_from(mart_net_worth_daily)).scalar() == 0
        )


def test_the_demo_shows_its_marts(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WEALTH_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("WEALTH_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("WEALTH_ECB_FILE", raising=False)
    monkeypatch.delenv("WEALTH_SYNC_KEY_FILE", raising=False)
    monkeypatch.setenv("WEALTH_ARGON2_TIME_COST", "1")
    monkeypatch.setenv("WEALTH_ARGON2_MEMORY_KIB", "1024")
    monkeypatch.setenv("WEALTH_ARGON2_PARALLELISM", "1")
    result = run("demo", "setup", "--days", "30")
    assert result.exit_code == 0, result.output
    assert "Marts: rebuilt 1 user(s)" in result.output
    with get_engine(sqlite_url).connect() as connection:
        last_day, total, accounts = connection.execute(
            select(
                mart_net_worth_daily.c.day,
                mart_net_worth_daily.c.total_wealth,
                mart_net_worth_daily.c.account_count,
            )
            .order_by(mart_net_worth_daily.c.day.desc())
            .limit(1)
        ).one()
        holdings = connection.execute(select(func.count()).select_from(mart_holdings)).scalar()
    assert last_day == today()  # the demo's values carried forward to today
    assert accounts == 4 and total > 0
    assert holdings == 5  # the brokerage's four and the pillar 3a's one


def test_a_failing_build_says_why_and_writes_nothing(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WEALTH_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("WEALTH_HOME", str(tmp_path / "home"))
    engine = get_engine(sqlite_url)
    make_world(engine)
    with engine.begin() as connection:  # a damaged warehouse: one mart table is gone
        connection.execute(text("DROP TABLE mart_holdings"))
    result = run("marts", "build", "--as-of", END.isoformat())
    assert result.exit_code == 1
    assert "the build failed and wrote nothing" in result.output
    assert "no such table: mart_holdings" in result.output
    assert "Traceback" not in result.output and "SELECT" not in result.output
    with engine.connect() as connection:
        assert (
            connection.execute(select(func.count()).select_from(mart_net_worth_daily)).scalar() == 0
        )


def test_a_new_base_currency_shows_in_the_marts_after_the_next_build(env: str) -> None:
    """`wealth users set --base-currency` reconverts with the real rates; the marts follow."""
    from datetime import date
    from decimal import Decimal

    from tests.support import factories
    from wealth_pipeline.snapshots.store import NewSnapshot, write_snapshots

    engine = get_engine(env)
    with engine.begin() as connection:
        factories.ecb_rates(connection, date(2024, 1, 1), date(2024, 1, 31))
        carol = factories.user(connection, "carol", "EUR")
        factories.broker(connection, "b", "B")
        account = factories.account(connection, carol, "b", "US", currency="USD")
        write_snapshots(
            connection,
            account,
            [  # 1,000.00 EUR each at the ECB's USD rate of the day
                NewSnapshot(date(2024, 1, 10), Decimal("1094.60"), "USD"),
                NewSnapshot(date(2024, 1, 15), Decimal("1094.50"), "USD"),
            ],
            source="manual",
        )
    assert run("marts", "build", "--as-of", "2024-01-16").exit_code == 0

    def history() -> set[tuple]:
        with engine.connect() as connection:
            return {
                (day.day, base, total)
                for day, base, total in connection.execute(
                    select(
                        mart_net_worth_daily.c.day,
                        mart_net_worth_daily.c.base_currency,
                        mart_net_worth_daily.c.total_wealth,
                    )
                )
            }

    assert history() == {(day, "EUR", Decimal("1000")) for day in range(10, 17)}
    changed = run("users", "set", "carol", "--base-currency", "CHF")
    assert changed.exit_code == 0, changed.output
    built = run("marts", "build", "--as-of", "2024-01-16")
    assert built.exit_code == 0 and "Rebuilt 1 user(s) from 2024-01-10" in built.output
    # USD -> CHF crosses through EUR: 1,000 EUR at 0.9336 CHF (10th), 0.9351 CHF (15th).
    assert history() == {(day, "CHF", Decimal("933.6")) for day in range(10, 15)} | {
        (day, "CHF", Decimal("935.1")) for day in (15, 16)
    }
