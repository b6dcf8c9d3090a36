"""The weekly report in Dagster: the `weekly_report` asset, its job and the Monday schedule.

A materialization is one week's sending: every opted-in user gets the week's report once
(`report_deliveries`), so a re-run or a second tick sends only what is missing. One refused
recipient never stops the others; the run fails at the end when any message failed, so it
shows in the UI, and re-running it retries only those.
"""

from dataclasses import replace
from datetime import date, datetime
from pathlib import Path

import dagster as dg

from wealth_pipeline import clock
from wealth_pipeline.clock import TIMEZONE, iso_week
from wealth_pipeline.mail import Mailer
from wealth_pipeline.report.delivery import Outcome, ReportError, send_reports
from wealth_pipeline.settings import load_settings
from wealth_pipeline.warehouse.resource import WarehouseResource

REPORT_HOUR, REPORT_MINUTE = 19, 0  # Mondays, after the evening sync (17:30) and the marts
REPORT_MARTS = ("mart_net_worth_daily", "mart_account_daily", "mart_breakdowns")
LISTED = 100  # users listed in the metadata table (counts are always complete)


class MailResource(dg.ConfigurableResource):
    """Outgoing mail for jobs: SMTP settings come from the environment (`WEALTH_SMTP_*`).

    `outbox_dir` overrides where messages go without an SMTP server (tests, previews).
    """

    outbox_dir: str | None = None

    def mailer(self) -> Mailer:
        settings = load_settings()
        if self.outbox_dir:
            settings = replace(settings, outbox_dir=Path(self.outbox_dir))
        return Mailer(settings)


class WeeklyReportConfig(dg.Config):
    day: str | None = None  # the report's day, YYYY-MM-DD (default: today in Europe/Berlin)
    users: list[str] = []  # only these users (default: everyone who opted in)  # noqa: RUF012
    resend: bool = False  # send again to users who already got this week's report


def outcome_table(outcomes: list[Outcome]) -> dg.MetadataValue:
    lines = ["| user | status | detail |", "|---|---|---|"]
    for outcome in outcomes[:LISTED]:
        detail = outcome.detail.replace("|", "/").replace("\n", " ")
        lines.append(f"| {outcome.username} | {outcome.status} | {detail} |")
    if len(outcomes) > LISTED:
        lines.append(f"| ... | | and {len(outcomes) - LISTED} more |")
    return dg.MetadataValue.md("\n".join(lines))


@dg.asset(
    group_name="report",
    kinds={"python", "email"},
    # Read only from these marts; the marts sensor keeps them fresh after every sync.
    deps=[dg.AssetKey(name) for name in REPORT_MARTS],
    description=(
        "The weekly wealth report, e-mailed to every user who opted in (profile "
        "weekly_report_enabled, to report_email or else the user's email): total, changes over "
        "7 days, 30 days and the year, net worth and allocation charts, accounts and warnings, "
        "all from the marts. Sent once per user and ISO week (report_deliveries); without "
        "WEALTH_SMTP_HOST the messages land in the outbox folder as .eml files."
    ),
    tags={"domain": "report"},
)
def weekly_report(
    context: dg.AssetExecutionContext,
    config: WeeklyReportConfig,
    warehouse: WarehouseResource,
    mail: MailResource,
) -> dg.MaterializeResult:
    try:
        today = date.fromisoformat(config.day) if config.day else clock.today()
    except ValueError:
        raise dg.Failure(description=f"day {config.day!r} is not a date (YYYY-MM-DD)") from None
    engine = warehouse.engine()
    mailer = mail.mailer()
    try:
        outcomes = send_reports(
            engine, mailer, usernames=config.users or None, today=today,
            resend=config.resend,
            # Reads never take SQLite's write lock, so the evening sync is not held up.
            reader=warehouse.reader(),
        )  # fmt: skip
    except ReportError as exc:
        raise dg.Failure(description=str(exc)) from None
    counts = {s: sum(o.status == s for o in outcomes) for s in ("sent", "failed", "skipped")}
    for outcome in outcomes:
        log = context.log.warning if outcome.status == "failed" else context.log.info
        log(outcome.describe())
    metadata = {
        "week": iso_week(today),
        "transport": mailer.transport,
        **counts,
        "deliveries": outcome_table(outcomes),
    }
    if counts["failed"]:
        raise dg.Failure(
            description=f"{counts['failed']} report(s) could not be delivered (the others were); "
            "re-running sends only what is missing",
            metadata=metadata,
        )
    return dg.MaterializeResult(metadata=metadata)


weekly_report_job = dg.define_asset_job(
    "weekly_report_job",
    selection=dg.AssetSelection.assets(weekly_report),
    description="E-mail this week's report to every user who opted in (each user once a week).",
)


def report_day(execution_time: datetime) -> str:
    return clock.day_of(execution_time).isoformat()


def build_weekly_report_schedule(running: bool) -> dg.ScheduleDefinition:
    @dg.schedule(
        name="weekly_report_monday",
        job=weekly_report_job,
        cron_schedule=f"{REPORT_MINUTE} {REPORT_HOUR} * * 1",
        execution_timezone=TIMEZONE,
        description="Mondays at 19:00: e-mail the weekly wealth report to everyone who opted in.",
        default_status=(
            dg.DefaultScheduleStatus.RUNNING if running else dg.DefaultScheduleStatus.STOPPED
        ),
    )
    def weekly_report_monday(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
        day = report_day(context.scheduled_execution_time)
        return dg.RunRequest(
            run_key=f"weekly_report:{iso_week(date.fromisoformat(day))}",
            run_config={"ops": {"weekly_report": {"config": {"day": day}}}},
        )

    return weekly_report_monday
