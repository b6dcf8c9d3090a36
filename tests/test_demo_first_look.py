"""What a new user sees of the demo right after `scripts/dev up`, offline and online.

Issue 13 ("It never goes stale" is not true): offline, the report said the figures were 34
days old, that all four accounts were never synced, and the 30-day history was a flat line.
Now, offline, `wealth summary` and the report say in one sentence that the figures are as of
the last day with rates and how to get later ones; no account is "never synced" (their data
came from the demo broker minutes ago); the history moves day by day up to the day the figures
are as of. Online (a local Frankfurter serving rates up to today), the same sentence's advice
works: `wealth demo setup` again brings the demo up to today, nothing needs attention, and the
daily sync of today still syncs the demo (its due logic is untouched).
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from itertools import pairwise
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from tests.support.demo import CLOCK, SHIPPED
from tests.support.fakes.frankfurter import FakeFrankfurter
from wealth_pipeline.cli import main
from wealth_pipeline.clock import today as berlin_today
from wealth_pipeline.warehouse.engine import get_engine


@pytest.fixture
def env(demo_env: str) -> str:
    """The demo's environment (tests/support/demo.py) on each warehouse."""
    return demo_env


@pytest.fixture(autouse=True)
def api_key(env: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEALTH_API_SECRET_KEY", "test-only signing key, 48 bytes long...........!")


def run(*args: str) -> Result:
    result = CliRunner().invoke(main, list(args), prog_name="wealth")
    assert result.exit_code == 0, result.output
    return result


def api_get(path: str) -> dict:
    """`path` of the API as the demo, signed in as a client signs in."""
    from fastapi.testclient import TestClient

    from tests.support.api import auth_hash
    from wealth_pipeline.api import create_app

    with TestClient(create_app()) as client:
        login = client.post(
            "/api/auth/login/",
            json={"username": "demo", "auth_hash": auth_hash(client, "demo", "demo-password")},
        )
        assert login.status_code == 200, login.text
        answer = client.get(path, headers={"Authorization": f"Bearer {login.json()['access']}"})
    assert answer.status_code == 200, answer.text
    return answer.json()


def last_days(days: int) -> list[tuple[date, Decimal]]:
    """The demo's net worth as the API charts it: what the dashboard's 30-day range asks for."""
    history = api_get(f"/api/wealth/history/?days={days}")["history"]
    return [(date.fromisoformat(p["date"]), Decimal(p["total_wealth"])) for p in history]


def assert_moves_day_by_day(history: list[tuple[date, Decimal]], end: date) -> None:
    """30 days ending on `end`, and the value changes on most of them (markets rest at
    weekends; the demo's everyday account moves on most days)."""
    assert len(history) == 30 and history[-1][0] == end
    moves = sum(1 for (_, a), (_, b) in pairwise(history) if a != b)
    assert moves >= 15, history


def test_offline_the_figures_are_as_of_the_last_day_with_rates(env: str, tmp_path: Path) -> None:
    run("demo", "setup", "--days", "60")
    summary = run("summary", "--user", "demo").output
    assert "net worth €" in summary and "on Fri 30 Oct 2026 (4 accounts" in summary
    assert "never synced" not in summary and "days ago" not in summary
    sentence = (
        "The demo's figures are as of 30 Oct 2026, the last day with exchange rates "
        "(WEALTH_OFFLINE is on, so no later ones are fetched): to bring it up to today, unset "
        "WEALTH_OFFLINE and run `wealth demo setup` again"
    )
    assert sentence in summary
    assert summary.count("  - ") == 1  # that one sentence is all that needs attention

    html = tmp_path / "report.html"
    run("report", "preview", "--user", "demo", "--html", str(html))
    page = html.read_text()
    assert "never synced" not in page and "days ago" not in page
    assert "figures as of Fri 30 Oct 2026" in page
    assert "WEALTH_OFFLINE is on, so no later ones are fetched" in page

    assert_moves_day_by_day(last_days(30), CLOCK)  # not the carried-forward days after it
    # The API (and the dashboard's overview, which shows it under "What needs attention")
    # says the same: as of 30 Oct, the week measured up to it.
    summary = api_get("/api/wealth/summary/")
    assert summary["as_of"] == CLOCK.isoformat() and sentence in summary["figures_note"]
    assert summary["week_change"]["since"] == (CLOCK - timedelta(days=7)).isoformat()
    changes = api_get("/api/wealth/changes/")
    assert changes["as_of"] == CLOCK.isoformat()


def today_rates(first: date, last: date) -> FakeFrankfurter:
    """A Frankfurter serving the excerpt plus every business day after it up to `last`, each
    with the excerpt's last rates moved by a small made-up step (made-up data: the test needs
    rates for days that may not have happened when it was written, not real ones)."""
    from wealth_pipeline.fx.ecb_file import read_ecb_bytes

    rates = dict(read_ecb_bytes(SHIPPED.read_bytes(), str(SHIPPED)))
    base = rates[max(rates)]
    day, step = first, 0
    while day <= last:
        if day.weekday() < 5:
            step += 1
            move = 1 + Decimal(step % 7 - 3) / 1000
            rates[day] = {code: (value * move).quantize(value) for code, value in base.items()}
        day += timedelta(days=1)
    return FakeFrankfurter(rates).start()


def test_online_setup_again_brings_the_demo_up_to_today_and_today_still_syncs(
    env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from wealth_pipeline.settings import load_settings
    from wealth_pipeline.sync.runner import run_sync

    run("demo", "setup", "--days", "60")  # offline first, as `up` made it
    today = berlin_today()
    server = today_rates(CLOCK + timedelta(days=1), today)
    try:
        monkeypatch.setenv("WEALTH_OFFLINE", "false")
        monkeypatch.setenv("WEALTH_FRANKFURTER_URL", server.url)
        setup = run("demo", "setup", "--days", "60")  # the sentence's advice
        assert f"Demo clock: {today}" in setup.output
        summary = run("summary", "--user", "demo").output
        assert f"{today.day} {today:%b %Y} (4 accounts" in summary, summary
        assert "Needs attention: nothing." in summary, summary
        assert_moves_day_by_day(last_days(30), today)
        assert api_get("/api/wealth/summary/")["figures_note"] is None

        # The daily sync of today still runs for the demo: a rate converts it, and filling
        # its history is no sync that would make today's wait for the sync frequency.
        report = run_sync(get_engine(env), today, settings=load_settings())
        assert sorted(o.status for o in report.outcomes) == ["success"] * 4, report.outcomes
        assert "never synced" not in run("summary", "--user", "demo").output
    finally:
        server.stop()
