"""`wealth summary`: net worth, each account with value, status and last data, the week's
change and what needs attention, from the same facts as the weekly report."""

from __future__ import annotations

from datetime import date

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import Engine

from tests.support.report import MONDAY, World, add_person, open_account
from wealth_pipeline import formatting as fmt
from wealth_pipeline.cli import main
from wealth_pipeline.report.facts import load_report


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def test_summary_of_one_user(report_world: tuple[Engine, World]) -> None:
    engine, people = report_world
    alice = people.alice
    empty = open_account(engine, alice, "New account")  # no snapshot yet
    result = run("summary", "--user", "alice", "--date", MONDAY.isoformat())
    assert result.exit_code == 0, result.output
    text = result.output
    with engine.connect() as connection:
        facts = load_report(connection, alice.user_id, today=MONDAY)
    # The report's figures, rounded once for display.
    assert text.startswith(
        f"alice: net worth {fmt.money(facts.total, 'EUR')} on Fri 27 Nov 2026 (3 accounts"
    )
    weekly = facts.weekly
    assert f"This week: {fmt.signed_money(weekly.absolute, 'EUR')}" in text
    rows = {line.split()[0]: line for line in text.splitlines() if line[:1].isdigit()}
    giro, depot = alice.accounts["Giro"], alice.accounts["Depot"]
    savings = alice.accounts["Sparkonto"]
    assert "Giro" in rows[str(giro)] and " active " in rows[str(giro)]
    assert rows[str(giro)].endswith("27 Nov 2026")  # the day of its last data
    assert "$12,500.50" in rows[str(depot)] and rows[str(depot)].endswith("24 Nov 2026")
    # Waiting for a TAN, its newest snapshot unconverted: no value, its status, its day.
    assert " - " in rows[str(savings)] and "pending_auth" in rows[str(savings)]
    assert rows[str(empty)].endswith("no data yet")
    attention = text.split("Needs attention:")[1]
    assert "Waits for you (Sparkonto)" in attention
    assert f"run: wealth accounts auth {savings} --user alice" in attention
    assert "Not converted (Sparkonto)" in attention


def test_summary_of_everyone_and_the_edges(report_world: tuple[Engine, World]) -> None:
    engine, _ = report_world
    everyone = run("summary", "--date", MONDAY.isoformat())
    assert everyone.exit_code == 0, everyone.output
    for name in ("alice", "bob", "carol", "dave"):
        assert f"\n{name}: net worth " in "\n" + everyone.output
    assert "bob: net worth CHF 1,000.00" in everyone.output
    unknown = run("summary", "--user", "zoe")
    assert unknown.exit_code == 1 and "no user named 'zoe'" in unknown.output
    add_person(engine, "erin")
    nothing = run("summary", "--user", "erin")
    assert nothing.exit_code == 0 and "erin has no accounts yet" in nothing.output
    bad_day = run("summary", "--date", "30.11.2026")
    assert bad_day.exit_code == 2 and "not a date" in bad_day.output
    before = run("summary", "--user", "bob", "--date", date(2026, 11, 1).isoformat())
    assert before.exit_code == 0 and "bob has no figures up to 2026-11-01" in before.output


def test_a_drop_in_coverage_is_no_loss(
    warehouse_url: str, tmp_path, monkeypatch
) -> None:
    """An account losing its rate this week is left out of the week's change, which says so,
    instead of showing its whole value as a loss (`marts.coverage.like_for_like`)."""
    pytest.importorskip("wealth_pipeline.marts.coverage")  # arrives with the like-for-like work
    from datetime import timedelta

    from tests.support.report import AS_OF, build, daily, snapshot
    from wealth_pipeline.warehouse.engine import get_engine

    monkeypatch.setenv("WEALTH_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("WEALTH_DATABASE_URL", warehouse_url)
    engine = get_engine(warehouse_url)
    fred = add_person(engine, "fred")
    giro = open_account(engine, fred, "Giro")
    savings = open_account(engine, fred, "Savings", currency="CHF")
    daily(engine, giro, AS_OF - timedelta(days=26), AS_OF, "1000.00", "10.00")
    snapshot(engine, savings, AS_OF - timedelta(days=26), "5000.00", "CHF", "5300.00")
    snapshot(engine, savings, AS_OF - timedelta(days=2), "5100.00", "CHF", None,
             note="no CHF rate within 14 days")  # fmt: skip
    build(engine, AS_OF)
    result = run("summary", "--user", "fred", "--date", AS_OF.isoformat())
    assert result.exit_code == 0, result.output
    assert "This week: +€70.00" in result.output  # the Giro alone: 7 days of +10.00
    assert "1 account has no rate since 1 Nov: this week's change leaves it out" in result.output
    assert "-€5,2" not in result.output
