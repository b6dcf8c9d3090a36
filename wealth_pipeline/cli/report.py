"""`wealth report`: look at the weekly report before it goes out, or send it by hand.

The scheduled Dagster job (`weekly_report`, Mondays 19:00 Europe/Berlin) sends the same
report; both record what was sent per user and ISO week, so neither sends a week twice.
"""

from __future__ import annotations

from pathlib import Path

import click

from wealth_pipeline.cli.common import parse_day, settings_or_usage_error


@click.group()
def report() -> None:
    """The weekly wealth report: preview it, send it."""


@report.command("preview")
@click.option("--user", "username", required=True, help="Whose report to render.")
@click.option(
    "--html",
    "html_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the HTML part to FILE, charts inlined, to open in a browser.",
)
@click.option(
    "--text", "show_text", is_flag=True, help="Print the plain-text part (default without --html)."
)
@click.option(
    "--date", "day", metavar="YYYY-MM-DD", help="The report's day (default: today, Europe/Berlin)."
)
def report_preview(username: str, html_file: Path | None, show_text: bool, day: str | None) -> None:
    """Render USER's weekly report without sending anything.

    Works whether or not the user opted in to the weekly report.
    """
    from wealth_pipeline.profiles import get_user
    from wealth_pipeline.report.facts import NoFigures, load_report
    from wealth_pipeline.report.render import render
    from wealth_pipeline.warehouse.engine import get_engine

    settings = settings_or_usage_error()
    today = parse_day(day)
    with get_engine(settings.database_url, readonly=True).connect() as connection:
        user = get_user(connection, username)
        if user is None:
            raise click.ClickException(f"no user named {username!r} (see `wealth users list`)")
        try:
            facts = load_report(connection, user.id, today=today)
        except NoFigures as exc:
            raise click.ClickException(str(exc)) from None
    rendered = render(facts)
    if html_file is not None:
        try:
            html_file.write_text(rendered.html(inline_images=True), encoding="utf-8")
        except OSError as exc:
            raise click.ClickException(f"cannot write {html_file}: {exc.strerror}") from None
        click.echo(f"Wrote the HTML report to {html_file} (open it in a browser).", err=True)
    if show_text or html_file is None:
        click.echo(f"Subject: {rendered.subject}")
        click.echo(f"To: {user.report_recipient or '(no address)'}")
        click.echo("")
        click.echo(rendered.text, nl=False)


@report.command("send")
@click.option(
    "--user", "usernames", multiple=True, help="Only this user (repeatable; default: all opted in)."
)
@click.option("--dry-run", is_flag=True, help="Render and list what would be sent; send nothing.")
@click.option("--resend", is_flag=True, help="Send again even if this week's report went out.")
@click.option(
    "--date", "day", metavar="YYYY-MM-DD", help="The report's day (default: today, Europe/Berlin)."
)
def report_send(usernames: tuple[str, ...], dry_run: bool, resend: bool, day: str | None) -> None:
    """Send this week's report to every user who opted in (or to --user).

    Without an SMTP server (WEALTH_SMTP_HOST) the messages are written as .eml files to the
    outbox folder (WEALTH_OUTBOX_DIR). A week already sent to a user is skipped unless
    --resend is given. Exits 1 when a message could not be delivered.
    """
    from wealth_pipeline.mail import Mailer
    from wealth_pipeline.report.delivery import ReportError, iter_send_reports
    from wealth_pipeline.warehouse.engine import get_engine

    settings = settings_or_usage_error()
    today = parse_day(day)
    mailer = Mailer(settings)
    if mailer.transport == "smtp":
        where = f"the SMTP server {settings.smtp_host}:{settings.smtp_port}"
    else:
        where = f"the outbox {settings.outbox_dir} (no WEALTH_SMTP_HOST set)"
    click.echo(("Dry run: nothing is sent. " if dry_run else "") + f"Mail goes to {where}.")
    counts: dict[str, int] = {}
    try:
        for outcome in iter_send_reports(
            get_engine(settings.database_url),
            mailer,
            usernames=usernames or None,
            today=today,
            resend=resend,
            dry_run=dry_run,
            reader=get_engine(settings.database_url, readonly=True),
        ):
            counts[outcome.status] = counts.get(outcome.status, 0) + 1
            click.echo(f"  {outcome.describe()}")
            if outcome.subject and outcome.status in ("sent", "dry-run"):
                click.echo(f"    {outcome.subject}")
    except ReportError as exc:
        raise click.ClickException(str(exc)) from None
    if not counts:
        click.echo("Nobody has the weekly report on: `wealth users set USER --weekly-report`.")
        return
    order = ("sent", "dry-run", "failed", "skipped")
    click.echo(", ".join(f"{counts[s]} {s}" for s in order if s in counts) + ".")
    if counts.get("sent"):  # what the weekly_report asset would have done: the UI shows it
        from wealth_pipeline import clock
        from wealth_pipeline.cli import record

        outcome_counts = {s: counts.get(s, 0) for s in ("sent", "failed", "skipped")}
        record.record(settings, "wealth report send", record.REPORT_ASSET, metadata={
            "week": clock.iso_week(today or clock.today()), "transport": mailer.transport,
            **outcome_counts,
        })  # fmt: skip
    if counts.get("failed"):
        raise SystemExit(1)
