"""The demo cannot be broken and the UI shows what exists (SQLite and PostgreSQL).

Offline (WEALTH_OFFLINE, as in every test), rates stop on the shipped excerpt's last day:
- a sync of a later day, from the Dagster asset (the UI's Materialize -> Latest) as from
  `run_sync`, is refused for the demo with the schedule's sentence and writes nothing;
- `wealth demo reset` puts the demo back as `up` made it; `wealth snapshots remove` removes
  chosen snapshots with their positions for any user and records a mart change;
- `wealth demo setup` reports what it wrote to Dagster: the `exchange_rates` days (each with
  its own row count), the snapshot days (balances, positions, conversions) and the marts;
- `wealth fx backfill` is a run of `exchange_rates_job`; `wealth fx rate` defaults to the
  API's day.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import pytest
from click.testing import CliRunner, Result
from sqlalchemy import func, select

from tests.support.demo import CLOCK, SHIPPED
from wealth_pipeline.cli import main
from wealth_pipeline.warehouse.engine import get_engine
from wealth_pipeline.warehouse.schema import (
    account_snapshots,
    financial_accounts,
    mart_changes,
    mart_net_worth_daily,
    portfolio_positions,
    users,
)


@pytest.fixture
def env(demo_env: str) -> str:
    """The demo's environment (tests/support/demo.py) on each warehouse."""
    return demo_env

LATER = date(2026, 12, 3)  # a day no stored rate converts (34 days later)


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), prog_name="wealth")


def state(url: str) -> dict[str, object]:
    """What a person sees of the demo: snapshots, positions, the newest day, net worth."""
    with get_engine(url).connect() as connection:
        count = {
            table.name: connection.execute(select(func.count()).select_from(table)).scalar_one()
            for table in (account_snapshots, portfolio_positions)
        }
        newest = connection.execute(select(func.max(account_snapshots.c.snapshot_date))).scalar()
        worth = connection.execute(
            select(mart_net_worth_daily.c.total_wealth, mart_net_worth_daily.c.unconverted_count)
            .order_by(mart_net_worth_daily.c.day.desc())
            .limit(1)
        ).one()
    return {**count, "newest": newest, "net_worth": tuple(worth)}


def test_materializing_a_day_no_rate_converts_leaves_the_demo_unharmed(env: str) -> None:
    """Defect: Materialize -> Latest on the sync wrote today's demo snapshots that
    no rate converts, and net worth fell from 876k to 3.5k. Now the sync refuses the day."""
    from wealth_pipeline.definitions import build_definitions

    assert run("demo", "setup", "--days", "20").exit_code == 0
    run("marts", "build", "--as-of", LATER.isoformat())
    before = state(env)
    assert before["newest"] == CLOCK and before["net_worth"][1] == 0

    job = build_definitions().resolve_job_def("daily_sync_job")
    result = job.execute_in_process(
        partition_key=LATER.isoformat(), instance=dg.DagsterInstance.ephemeral()
    )
    assert result.success  # never a red partition
    [event] = [  # the daily job also materializes positions, cash flows and conversions
        e for e in result.get_asset_materialization_events()
        if e.asset_key == dg.AssetKey("account_balances")
    ]  # fmt: skip
    metadata = {key: value.value for key, value in event.materialization.metadata.items()}
    assert metadata["accounts_skipped"] == 4 and metadata["rows_written"] == 0
    table = metadata["skipped"]
    assert "The stored exchange rates end on 2026-10-30" in table
    assert "the demo is not synced for 2026-12-03" in table and "WEALTH_OFFLINE" in table

    run("marts", "build", "--as-of", LATER.isoformat())
    assert state(env) == before  # unharmed: the same snapshots, the same net worth

    # The same day from the command line's sync (the runner the asset calls) says the same.
    from wealth_pipeline.settings import load_settings
    from wealth_pipeline.sync.runner import run_sync

    report = run_sync(get_engine(env), LATER, settings=load_settings())
    assert {o.status for o in report.outcomes} == {"skipped"}
    assert all("not synced for 2026-12-03" in (o.reason or "") for o in report.outcomes)


def test_the_demo_clock_day_still_syncs(env: str) -> None:
    from wealth_pipeline.settings import load_settings
    from wealth_pipeline.sync.runner import run_sync

    assert run("demo", "setup", "--days", "5").exit_code == 0
    report = run_sync(get_engine(env), CLOCK + timedelta(days=2), settings=load_settings())
    assert {o.status for o in report.outcomes} <= {"success", "no_new_data"}  # a weekend day


def test_demo_reset_puts_the_demo_back_as_up_made_it(env: str) -> None:
    assert run("demo", "setup", "--days", "10").exit_code == 0
    made = state(env)
    from wealth_pipeline.history.backfill import backfill_history

    with get_engine(env).connect() as connection:
        savings = connection.execute(
            select(financial_accounts.c.id).where(
                financial_accounts.c.account_identifier == "DEMO-CHF-SAVINGS"
            )
        ).scalar_one()
    # The old harm: CHF days that no rate converts (what Materialize -> Latest used to write).
    harm = backfill_history(get_engine(env), savings, days=5, today=LATER)
    assert harm.written == 5 and len(harm.unconverted) == 5
    assert state(env) != made

    reset = run("demo", "reset", "--days", "10")
    assert reset.exit_code == 0, reset.output
    assert "Removed the user demo" in reset.output
    assert state(env) == made
    with get_engine(env).connect() as connection:
        assert connection.execute(select(func.count()).select_from(users)).scalar_one() == 1


def test_snapshots_remove_takes_the_chosen_days_with_positions_for_that_user_only(
    env: str,
) -> None:
    from wealth_pipeline.history.demo import setup_demo
    from wealth_pipeline.settings import load_settings

    engine = get_engine(env)
    assert run("demo", "setup", "--days", "10").exit_code == 0
    with engine.connect() as connection:
        brokerage = connection.execute(
            select(financial_accounts.c.id).where(
                financial_accounts.c.account_identifier == "DEMO-USD-BROKERAGE"
            )
        ).scalar_one()
        connection.execute(mart_changes.delete())
    before = state(env)

    dry = run("snapshots", "remove", "--user", "demo", "--from", "2026-10-29", "--to",
              "2026-10-30", "--account", str(brokerage), "--dry-run")  # fmt: skip
    assert dry.exit_code == 0 and "Would remove 2 snapshot(s) with 4 position(s)" in dry.output
    assert state(env) == before

    done = run("snapshots", "remove", "--user", "demo", "--from", "2026-10-29", "--to",
               "2026-10-30", "--account", str(brokerage))  # fmt: skip
    assert done.exit_code == 0, done.output
    assert "Removed 2 snapshot(s) with 4 position(s)" in done.output
    after = state(env)
    assert after["account_snapshots"] == before["account_snapshots"] - 2
    assert after["portfolio_positions"] == before["portfolio_positions"] - 4
    with engine.connect() as connection:
        change = connection.execute(select(mart_changes)).one()
    assert change.earliest_changed_day == date(2026, 10, 29)
    assert change.reason == "snapshots removed"

    # Another user's account id is refused, whoever asks; nothing else is touched.
    assert setup_demo  # (the demo is the only user here)
    foreign = run("snapshots", "remove", "--user", "demo", "--from", "2026-10-01",
                  "--account", "999999")  # fmt: skip
    assert foreign.exit_code == 1 and "no such account" in foreign.output
    assert state(env) == after
    assert load_settings().offline


def test_cli_work_shows_in_dagster_as_materialized(
    env: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each exchange_rates day with its own rows (a Saturday: 0, never the run's total),
    the demo's snapshot days, and the marts; `fx backfill` runs under its job's name."""
    monkeypatch.setenv("WEALTH_RECORD_IN_DAGSTER", "true")
    monkeypatch.setenv("WEALTH_FX_SOURCE", "ecb_file")
    excerpt = tmp_path / "recent.csv"  # the excerpt's last 3 weeks: few days to record
    lines = SHIPPED.read_text().splitlines()
    excerpt.write_text("\n".join([lines[0], *lines[1:16]]) + "\n")
    monkeypatch.setenv("WEALTH_ECB_FILE", str(excerpt))

    setup = run("demo", "setup", "--days", "3")
    assert setup.exit_code == 0, setup.output
    assert "Note:" not in setup.output
    instance = dg.DagsterInstance.get()
    rates = dg.AssetKey("exchange_rates")
    done = instance.get_materialized_partitions(rates)
    assert {"2026-10-30", "2026-10-24", "2026-10-14"} <= done  # the demo window, 14 days back
    assert "2026-10-12" not in done  # the rest of the file: `wealth fx backfill`
    saturday = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=rates, asset_partitions=["2026-10-24"]), limit=1
    ).records[0]
    meta = saturday.asset_materialization.metadata
    assert meta["dagster/row_count"].value == 0
    friday = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=rates, asset_partitions=["2026-10-30"]), limit=1
    ).records[0]
    assert friday.asset_materialization.metadata["dagster/row_count"].value == 29
    assert "USD" in friday.asset_materialization.metadata["currencies"].value
    for asset in ("account_balances", "account_positions", "converted_snapshots"):
        assert instance.get_materialized_partitions(dg.AssetKey(asset)) == {
            "2026-10-28", "2026-10-29", "2026-10-30",
        }, asset  # fmt: skip
    # The cash flows the demo's history brought (a salary, a payment, a deposit) are there
    # too: account_cash_flows is no longer "Never materialized" after `up`.
    flow_days = instance.get_materialized_partitions(dg.AssetKey("account_cash_flows"))
    assert flow_days and flow_days <= {"2026-10-28", "2026-10-29", "2026-10-30"}
    for mart in ("mart_net_worth_daily", "mart_account_daily", "mart_holdings"):
        assert instance.get_latest_materialization_event(dg.AssetKey(mart)) is not None

    backfill = run("fx", "backfill", "--start", "2026-10-26", "--end", "2026-10-27")
    assert backfill.exit_code == 0, backfill.output
    [latest] = instance.get_runs(limit=1)
    assert latest.job_name == "exchange_rates_job"


def test_fx_rate_and_the_api_default_to_the_same_day(env: str) -> None:
    from wealth_pipeline.fx.lookup import default_day

    assert run("demo", "setup", "--days", "3").exit_code == 0
    shown = run("fx", "rate", "USD", "CHF")
    assert shown.exit_code == 0, shown.output
    with get_engine(env).connect() as connection:
        assert default_day(connection) == CLOCK
    assert f"on {CLOCK}" in shown.output


def test_a_drop_in_coverage_is_never_shown_as_a_loss(env: str) -> None:
    """Three demo accounts without a rate on the newest day: the week's change counts only
    the account counted on both days, in the report (and `wealth summary`, which reads it)
    and the API, and says who is left out."""
    from wealth_pipeline.api.routes.wealth import _week_change
    from wealth_pipeline.history.backfill import backfill_history
    from wealth_pipeline.marts import build_marts
    from wealth_pipeline.marts.coverage import like_for_like
    from wealth_pipeline.report.facts import load_report

    engine = get_engine(env)
    assert run("demo", "setup", "--days", "20").exit_code == 0
    with engine.connect() as connection:
        rows = connection.execute(
            select(financial_accounts.c.id, financial_accounts.c.currency, users.c.id).join(
                users, users.c.id == financial_accounts.c.user_id
            )
        ).all()
    user_id = rows[0][2]
    for account_id, _currency, _ in rows:  # the old harm: every account synced on LATER
        backfill_history(engine, account_id, days=1, today=LATER)
    build_marts(engine, as_of=LATER)

    with engine.connect() as connection:
        coverage = like_for_like(connection, user_id, LATER - timedelta(days=7), LATER)
        report = load_report(connection, user_id, today=LATER)
        api = _week_change(connection, user_id, LATER)
        totals = dict(
            connection.execute(
                select(mart_net_worth_daily.c.day, mart_net_worth_daily.c.total_wealth).where(
                    mart_net_worth_daily.c.day.in_([LATER - timedelta(days=7), LATER])
                )
            ).all()
        )
    assert coverage is not None and not coverage.comparable
    assert len(coverage.no_rate) == 3 and coverage.no_rate_since == CLOCK
    sentence = "3 accounts have no rate since 30 Oct: this week's change leaves them out"
    assert coverage.sentence() == sentence
    drop = totals[LATER] - totals[LATER - timedelta(days=7)]
    assert drop < -100_000  # what the totals alone would call a loss
    weekly = report.weekly
    assert weekly.absolute == coverage.change and abs(weekly.absolute) < 10_000
    assert weekly.note == sentence
    assert report.warnings[0].kind == "coverage" and sentence[1:] in report.warnings[0].text
    assert api is not None
    assert api["like_for_like"] is False and api["note"] == sentence
    assert api["amount"] == str(coverage.change)
