"""`wealth demo setup` end to end on SQLite and PostgreSQL: the demo user with the demo
broker's four accounts, auto-sync on, a year of history converted into EUR, offline; a second
run adds nothing. And `wealth accounts backfill` on a demo account."""

from datetime import date, timedelta
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import func, select

from wealth_pipeline.cli import main
from wealth_pipeline.security.worker import unlock_for_sync
from wealth_pipeline.warehouse.engine import get_engine
from wealth_pipeline.warehouse.schema import (
    account_snapshots,
    exchange_rates,
    financial_accounts,
    portfolio_positions,
    profiles,
    sealed_data_keys,
    users,
)

CLOCK = date(2026, 10, 30)  # the shipped ECB excerpt's last day


@pytest.fixture
def env(warehouse_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("WEALTH_DATABASE_URL", warehouse_url)
    monkeypatch.setenv("WEALTH_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("WEALTH_ECB_FILE", raising=False)
    monkeypatch.delenv("WEALTH_SYNC_KEY_FILE", raising=False)
    monkeypatch.setenv("WEALTH_ARGON2_TIME_COST", "1")
    monkeypatch.setenv("WEALTH_ARGON2_MEMORY_KIB", "1024")
    monkeypatch.setenv("WEALTH_ARGON2_PARALLELISM", "1")
    return warehouse_url


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), prog_name="wealth")


def counts(url: str) -> dict[str, int]:
    with get_engine(url).connect() as connection:
        return {
            table.name: connection.execute(select(func.count()).select_from(table)).scalar_one()
            for table in (users, financial_accounts, account_snapshots, portfolio_positions)
        }


def test_demo_setup_is_idempotent_with_a_year_converted(env: str) -> None:
    first = run("demo", "setup")
    assert first.exit_code == 0, first.output
    assert f"Demo clock: {CLOCK}" in first.output and "Done: 1460 snapshot(s)" in first.output
    after_first = counts(env)
    assert after_first["users"] == 1 and after_first["financial_accounts"] == 4
    assert after_first["account_snapshots"] == 4 * 365
    assert after_first["portfolio_positions"] == 5  # brokerage 4 + pillar 3a 1, on the last day

    engine = get_engine(env)
    with engine.connect() as connection:
        per_account = connection.execute(
            select(
                financial_accounts.c.account_identifier,
                financial_accounts.c.currency,
                func.count(),
                func.min(account_snapshots.c.snapshot_date),
                func.max(account_snapshots.c.snapshot_date),
                func.count(account_snapshots.c.balance_base_currency),
            )
            .join(account_snapshots, account_snapshots.c.account_id == financial_accounts.c.id)
            .group_by(financial_accounts.c.account_identifier, financial_accounts.c.currency)
            .order_by(financial_accounts.c.account_identifier)
        ).all()
        bases = connection.execute(select(account_snapshots.c.base_currency).distinct()).all()
        profile = connection.execute(
            select(profiles.c.base_currency, profiles.c.auto_sync_enabled)
        ).one()
        sealed = connection.execute(select(func.count()).select_from(sealed_data_keys)).scalar()
        user_id = connection.execute(select(users.c.id)).scalar_one()
        rates = connection.execute(select(func.count()).select_from(exchange_rates)).scalar()
        unlocked = unlock_for_sync(connection, user_id)  # the worker can open it
    start = CLOCK - timedelta(days=364)
    assert [tuple(row) for row in per_account] == [
        ("DEMO-CHF-PILLAR3A", "CHF", 365, start, CLOCK, 365),
        ("DEMO-CHF-SAVINGS", "CHF", 365, start, CLOCK, 365),
        ("DEMO-EUR-CHECKING", "EUR", 365, start, CLOCK, 365),
        ("DEMO-USD-BROKERAGE", "USD", 365, start, CLOCK, 365),
    ]
    assert [tuple(b) for b in bases] == [("EUR",)]
    assert tuple(profile) == ("EUR", True) and sealed == 1 and rates > 0
    assert unlocked.username == "demo"

    second = run("demo", "setup")
    assert second.exit_code == 0, second.output
    assert "Done: 0 snapshot(s) written." in second.output and "created" not in second.output
    assert counts(env) == after_first


def test_the_demo_user_receives_the_weekly_report_in_the_outbox(
    env: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("WEALTH_SMTP_HOST", raising=False)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster"))
    setup = run("demo", "setup", "--days", "20")
    assert setup.exit_code == 0, setup.output
    assert "Weekly report: on, to demo@example.org" in setup.output
    sent = run("report", "send", "--date", CLOCK.isoformat())
    assert sent.exit_code == 0, sent.output
    [eml] = (tmp_path / "home" / "outbox").glob("*.eml")
    message = message_from_bytes(eml.read_bytes(), policy=policy.default)
    assert message["To"] == "demo@example.org"
    assert message["Subject"].startswith("[Wealth Tracker] Weekly Report - ")

    # Sent from the command line, the report shows in Dagster's UI as materialized, as the
    # rest of the command line's work does (recorded when WEALTH_RECORD_IN_DAGSTER is on).
    import dagster as dg

    monkeypatch.setenv("WEALTH_RECORD_IN_DAGSTER", "true")
    again = run("report", "send", "--date", CLOCK.isoformat(), "--resend")
    assert again.exit_code == 0 and "Note:" not in again.output, again.output
    event = dg.DagsterInstance.get().get_latest_materialization_event(dg.AssetKey("weekly_report"))
    assert event is not None and event.asset_materialization is not None
    metadata = event.asset_materialization.metadata
    assert metadata["sent"].value == 1 and metadata["week"].value == "2026-W44"


def test_accounts_backfill_command_on_a_demo_account(env: str) -> None:
    assert run("demo", "setup", "--days", "20").exit_code == 0
    with get_engine(env).connect() as connection:
        account = connection.execute(
            select(financial_accounts.c.id).where(
                financial_accounts.c.account_identifier == "DEMO-EUR-CHECKING"
            )
        ).scalar_one()
    result = run("accounts", "backfill", str(account), "--user", "demo", "--days", "30")
    assert result.exit_code == 0, result.output
    assert "30 day(s) from the broker, 10 written, 20 kept" in result.output
    result = run(
        "accounts", "backfill", str(account), "--user", "demo", "--days", "5", "--overwrite"
    )
    assert result.exit_code == 0 and "5 written (5 replaced)" in result.output
    missing = run("accounts", "backfill", "999999", "--user", "demo")
    assert missing.exit_code == 1 and "no such account" in missing.output
