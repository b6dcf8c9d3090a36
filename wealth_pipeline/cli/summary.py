"""`wealth summary`: a person's first question at the terminal, answered from the marts.

Net worth now, each account with its value, status and last data, the week's change and
what needs attention. The figures are the weekly report's (`report.facts.load_report`), so
the terminal, the e-mail and the API never disagree.
"""

from __future__ import annotations

from datetime import date

import click

from wealth_pipeline.cli.common import parse_day, settings_or_usage_error


@click.command("summary")
@click.option(
    "--user", "username", metavar="USERNAME", help="Whose wealth (default: every user in turn)."
)
@click.option(
    "--date", "day", metavar="YYYY-MM-DD", help="Figures as of this day (default: today, Berlin)."
)
def summary(username: str | None, day: str | None) -> None:
    """Net worth now, each account, the week's change and what needs attention."""
    from wealth_pipeline.profiles import get_user, list_users
    from wealth_pipeline.warehouse.engine import get_engine

    today = parse_day(day)
    engine = get_engine(settings_or_usage_error().database_url, readonly=True)
    with engine.connect() as connection:
        if username is not None:
            user = get_user(connection, username)
            if user is None:
                raise click.ClickException(f"no user named {username!r} (see `wealth users list`)")
            people = [user]
        else:
            people = list_users(connection)
            if not people:
                raise click.ClickException(
                    "there are no users yet: `wealth demo setup` makes the demo, "
                    "`wealth users create NAME` your own"
                )
        for index, person in enumerate(people):
            if index:
                click.echo("")
            click.echo(render_summary(connection, person.id, person.username, today))


def render_summary(connection, user_id: int, username: str, today: date | None) -> str:
    """The summary of one user as text."""
    from wealth_pipeline import formatting as fmt
    from wealth_pipeline.accounts import list_accounts
    from wealth_pipeline.report.facts import NoFigures, load_report
    from wealth_pipeline.report.render import NOTICE_TITLES, text_table

    states = {row["id"]: row for row in list_accounts(connection, user_id)}
    try:
        report = load_report(connection, user_id, today=today)
    except NoFigures:
        if not states:
            return (
                f"{username} has no accounts yet: `wealth accounts add --user {username} ...` "
                "adds one (`wealth brokers list` shows where)."
            )
        if today is not None:
            return f"{username} has no figures up to {today.isoformat()}."
        return (
            f"{username} has {len(states)} account(s) but no figures yet: record a balance "
            f"(`wealth snapshots add ACCOUNT_ID --user {username} ...`, ids from "
            f"`wealth accounts list --user {username}`), then `wealth marts build`."
        )
    currency = report.base_currency
    lines = [
        f"{username}: net worth {fmt.money(report.total, currency)} on {fmt.day(report.as_of)} "
        f"({report.account_count} account{'s' if report.account_count != 1 else ''}, "
        f"{fmt.exactness(currency)})"
    ]
    lines.append(weekly_line(report, currency))
    lines.append("")
    rows = []
    shown = set()
    for account in report.accounts:
        shown.add(account.account_id)
        state = states.get(account.account_id)
        value = "-" if account.base_amount is None else fmt.money(account.base_amount, currency)
        own = "" if account.currency == currency else fmt.money(account.balance, account.currency)
        week = (
            "new" if account.new
            else "-" if account.weekly_change is None
            else fmt.signed_money(account.weekly_change, currency)
        )  # fmt: skip
        rows.append([
            str(account.account_id), account.name, account.broker, value, own, week,
            state["status"] if state else "-", fmt.short_day(account.snapshot_date),
        ])  # fmt: skip
    for account_id, state in sorted(states.items(), key=lambda item: item[1]["name"].casefold()):
        if account_id not in shown:
            rows.append([str(account_id), state["name"], state["broker_name"], "-", "", "",
                         state["status"], "no data yet"])  # fmt: skip
    columns = ["ID", "ACCOUNT", "BROKER", f"VALUE ({currency})", "OWN CURRENCY", "WEEK",
               "STATUS", "LAST DATA"]  # fmt: skip
    lines.append(text_table(columns, rows, "lllrrrll"))
    lines.append("")
    lines.extend(year_lines(report, currency))
    if not report.warnings:
        lines.append("Needs attention: nothing.")
    else:
        lines.append("Needs attention:")
        for notice in report.warnings:
            title = NOTICE_TITLES.get(notice.kind, notice.kind)
            subject = f" ({notice.subject})" if notice.subject else ""
            lines.append(f"  - {title}{subject}: {notice.text}")
            lines.extend(f"      {item}" for item in notice.items)
            if notice.action:
                lines.append(f"      run: {notice.action}")
    return "\n".join(lines)


def year_lines(report, currency: str) -> list[str]:
    """The report's "where the change came from" for this year, total first, then a blank."""
    from wealth_pipeline.report.render import where_from_view

    if not report.where_from:
        return []
    lines = [f"Where the change came from since {where_from_view(*report.where_from[0], currency)['since']}:"]
    for name, figures in report.where_from:
        view = where_from_view(name, figures, currency)
        lines.append(f"  {view['name']}: {view['change']} = {view['parts']}; {view['returns']}")
    return [*lines, ""]


def weekly_line(report, currency: str) -> str:
    from wealth_pipeline import formatting as fmt

    weekly = report.weekly
    if weekly.absolute is None:
        return "This week: no earlier day to compare with."
    since = fmt.short_day(weekly.since) + (" (first day on record)" if weekly.partial else "")
    percent = "" if weekly.ratio is None else f" ({fmt.percent(weekly.ratio, signed=True)})"
    line = f"This week: {fmt.signed_money(weekly.absolute, currency)}{percent} since {since}"
    if weekly.note:  # not like for like: the change leaves some accounts out, and says which
        line += f"\n  ({weekly.note})"
    return line
