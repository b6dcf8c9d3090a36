"""The weekly report from the outside: the Monday schedule, the Dagster run and `wealth report`.

The schedule's RunRequest runs through the definitions' own job and resources and delivers to
a real SMTP server; the CLI previews (text, HTML with inlined charts) and sends.
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg
from click.testing import CliRunner, Result
from sqlalchemy import Engine, select

from tests.support.fakes.smtp import FakeSmtp
from tests.support.report import World
from wealth_pipeline.cli import main
from wealth_pipeline.definitions import build_definitions
from wealth_pipeline.settings import load_settings
from wealth_pipeline.warehouse.schema import report_deliveries

BERLIN = ZoneInfo("Europe/Berlin")


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), prog_name="wealth")


def statuses(engine: Engine) -> dict[int, str]:
    rd = report_deliveries
    with engine.connect() as connection:
        return dict(connection.execute(select(rd.c.user_id, rd.c.status)).all())


def test_the_monday_schedule_delivers_through_the_definitions(
    report_world: tuple[Engine, World], smtp: FakeSmtp
) -> None:
    engine, people = report_world
    defs = build_definitions(load_settings())
    schedule = defs.resolve_schedule_def("weekly_report_monday")
    assert schedule.cron_schedule == "0 19 * * 1"
    assert schedule.execution_timezone == "Europe/Berlin"
    assert schedule.job_name == "weekly_report_job"
    context = dg.build_schedule_context(
        scheduled_execution_time=datetime(2026, 11, 30, 19, 0, tzinfo=BERLIN)
    )
    [request] = schedule.evaluate_tick(context).run_requests
    assert request.run_key == "weekly_report:2026-W49"  # one run per ISO week

    job = defs.resolve_job_def("weekly_report_job")
    result = job.execute_in_process(run_config=request.run_config, raise_on_error=False)
    # Bob's address is refused: the run fails visibly, after everyone else got theirs.
    assert not result.success
    assert [r.recipients for r in smtp.received] == [["alice.reports@example.org"]]
    assert statuses(engine) == {people.alice.user_id: "sent", people.bob.user_id: "failed"}
    [failure] = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert "1 report(s) could not be delivered" in str(failure.event_specific_data)

    # The next tick of the same week sends nothing twice; only the refused one is retried.
    smtp.reset()
    config = {"day": "2026-11-30", "users": ["alice"]}
    again = job.execute_in_process(run_config={"ops": {"weekly_report": {"config": config}}})
    assert again.success
    assert smtp.received == []
    [materialization] = again.get_asset_materialization_events()
    metadata = materialization.materialization.metadata
    assert metadata["week"].value == "2026-W49"
    assert metadata["skipped"].value == 1 and metadata["sent"].value == 0


def test_preview_prints_the_text_and_writes_a_browsable_html(
    report_world: tuple[Engine, World], tmp_path: Path
) -> None:
    engine, _ = report_world
    text = run("report", "preview", "--user", "alice", "--date", "2026-11-30")
    assert text.exit_code == 0, text.output
    assert "Subject: [Wealth Tracker] Weekly Report - €15,520.46" in text.output
    assert "To: alice.reports@example.org" in text.output
    assert "Total wealth: €15,520.46" in text.output

    page = tmp_path / "report.html"
    html = run("report", "preview", "--user", "carol", "--html", str(page))  # not opted in
    assert html.exit_code == 0, html.output
    content = page.read_text(encoding="utf-8")
    assert "€10.00" in content
    # net worth, allocation, projection
    assert len(re.findall(r'src="data:image/png;base64,', content)) == 3
    assert "cid:" not in content
    assert "Subject:" not in html.stdout  # only --text prints the text part as well
    assert statuses(engine) == {}  # a preview sends and records nothing

    missing = run("report", "preview", "--user", "zoe")
    assert missing.exit_code == 1 and "no user named 'zoe'" in missing.output
    bad_day = run("report", "preview", "--user", "alice", "--date", "30.11.2026")
    assert bad_day.exit_code == 2 and "is not a date" in bad_day.output


def test_preview_without_figures_says_what_to_do(report_world: tuple[Engine, World]) -> None:
    result = run("report", "preview", "--user", "alice", "--date", "2020-01-01")
    assert result.exit_code == 1
    assert "the marts hold no figures for alice up to 2020-01-01" in result.output
    assert "Traceback" not in result.output


def test_send_prints_each_user_and_exits_1_on_a_failure(
    report_world: tuple[Engine, World], smtp: FakeSmtp
) -> None:
    engine, _ = report_world
    dry = run("report", "send", "--dry-run", "--date", "2026-11-30")
    assert dry.exit_code == 0, dry.output
    assert "Dry run: nothing is sent." in dry.output
    assert "alice <alice.reports@example.org>: dry-run" in dry.output
    assert smtp.received == [] and statuses(engine) == {}

    sent = run("report", "send", "--date", "2026-11-30")
    assert sent.exit_code == 1
    assert "alice <alice.reports@example.org>: sent" in sent.output
    assert "bob <refuse-bob@example.org>: failed" in sent.output
    assert "dave: skipped - no e-mail address" in sent.output
    assert "1 sent, 1 failed, 1 skipped." in sent.output

    again = run("report", "send", "--user", "alice", "--date", "2026-11-30")
    assert again.exit_code == 0 and "already sent for 2026-W49" in again.output
    resent = run("report", "send", "--user", "alice", "--resend", "--date", "2026-11-30")
    assert resent.exit_code == 0 and "1 sent." in resent.output
    assert len(smtp.received) == 2

    unknown = run("report", "send", "--user", "zoe")
    assert unknown.exit_code == 1 and "no active user named 'zoe'" in unknown.output


def test_users_opt_in_and_out_with_wealth_users_set(report_world: tuple[Engine, World]) -> None:
    off = run("users", "set", "alice", "--no-weekly-report")
    assert off.exit_code == 0 and "weekly report        off" in off.output
    on = run("users", "set", "dave", "--weekly-report", "--report-email", "dave@example.org")
    assert on.exit_code == 0, on.output
    dry = run("report", "send", "--dry-run", "--date", "2026-11-30")
    assert "alice" not in dry.output
    assert "dave <dave@example.org>: dry-run" in dry.output
