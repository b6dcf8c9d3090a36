"""Reading one user's weekly report from the marts (and the account tables, for warnings).

Figures come only from the marts (`mart_net_worth_daily`, `mart_account_daily`,
`mart_breakdowns`), so the report says exactly what the API says. Warnings come from the
accounts' status, the sync bookkeeping (`sync.checks.stale_accounts`) and the snapshots that
have no base amount yet, with the reason the conversion left.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, func, select

from wealth_pipeline import clock
from wealth_pipeline.brokers.connection import sync_command
from wealth_pipeline.formatting import short_day
from wealth_pipeline.marts.coverage import figures_days, like_for_like
from wealth_pipeline.report.content import (
    CHART_DAYS,
    WEEK,
    AccountRow,
    Change,
    Notice,
    WeeklyReport,
    account_lines,
    changes,
    chart_points,
    ratio,
    slices,
)
from wealth_pipeline.report.projection import load_projection
from wealth_pipeline.sync.checks import Finding, stale_accounts
from wealth_pipeline.sync.demo_guard import demo_accounts_waiting, figures_as_of_sentence
from wealth_pipeline.sync.waiting import why_of
from wealth_pipeline.warehouse.schema import (
    account_snapshots,
    brokers,
    financial_accounts,
    mart_account_daily,
    mart_breakdowns,
    mart_net_worth_daily,
    profiles,
    users,
)

OUTDATED_AFTER_DAYS = 3  # figures older than this (against the report's day) are called out
LISTED_UNCONVERTED_DAYS = 3


class NoFigures(LookupError):
    """The marts hold nothing for this user (yet): there is no report to render."""


def load_report(
    connection: Connection,
    user_id: int,
    *,
    today: date | None = None,
    now: datetime | None = None,
    stale: list[Finding] | None = None,
) -> WeeklyReport:
    """The report for `user_id` on `today` (Berlin): figures of the marts' latest day up to it.

    `stale`: `sync.checks.stale_accounts` of everyone, when a batch has read it once already.
    """
    now = now or clock.now()
    today = today or clock.today(now)
    person = connection.execute(
        select(users.c.username, profiles.c.base_currency)
        .join(profiles, profiles.c.user_id == users.c.id)
        .where(users.c.id == user_id)
    ).first()
    if person is None:
        raise NoFigures(f"no user with id {user_id}")
    days = figures_days(connection, user_id, today)
    if days is None:
        raise NoFigures(
            f"the marts hold no figures for {person.username} up to {today.isoformat()}: "
            "add an account with a snapshot and build the marts (`wealth marts build`)"
        )
    # Changes are measured from real data, not from days the marts only carried forward
    # (and figures that stopped are called out below).
    mart_day, as_of = days
    nw = mart_net_worth_daily
    window_start = as_of - timedelta(days=CHART_DAYS + 1)
    rows = connection.execute(
        select(nw.c.day, nw.c.total_wealth, nw.c.base_currency, nw.c.account_count,
               nw.c.unconverted_count)
        .where(nw.c.user_id == user_id, nw.c.day.between(window_start, as_of))
        .order_by(nw.c.day)
    ).all()  # fmt: skip
    history = {row.day: row.total_wealth for row in rows}
    latest = rows[-1]
    currency = latest.base_currency

    accounts = _account_rows(connection, user_id, as_of)
    allocation = _breakdowns(connection, user_id)
    allocation_as_of = max((as_of_day for _, _, as_of_day in allocation.values()), default=None)
    if allocation_as_of is not None and as_of <= allocation_as_of <= mart_day:
        allocation_as_of = as_of  # the days after `as_of` only carry the same values forward
    if stale is None:
        stale = stale_accounts(connection, now)
    warnings = _warnings(connection, user_id, person.username, as_of, today, stale)
    if currency != person.base_currency:
        warnings.insert(
            0,
            Notice(
                "outdated",
                "",
                f"Your base currency is now {person.base_currency}; these figures are still in "
                f"{currency} until the marts are rebuilt.",
            ),
        )
    return WeeklyReport(
        where_from=where_from(connection, user_id, as_of),
        username=person.username,
        base_currency=currency,
        as_of=as_of,
        week=clock.iso_week(today),
        total=latest.total_wealth,
        account_count=latest.account_count,
        unconverted_count=latest.unconverted_count,
        changes=like_for_like_changes(
            connection, user_id, as_of, changes(history, as_of), warnings
        ),
        history=chart_points(history, as_of),
        accounts=account_lines(accounts, latest.total_wealth),
        by_asset_class=slices(allocation.get("asset_class", ([], None, None))[0]),
        by_currency=slices(allocation.get("currency", ([], None, None))[0]),
        allocation_as_of=allocation_as_of,
        warnings=warnings,
        projection=load_projection(connection, user_id, clock.iso_week(today)),
    )


def where_from(connection: Connection, user_id: int, as_of: date) -> list[tuple[str, Any]]:
    """This year's split of the change, for the total and each account (by value)."""
    from wealth_pipeline.returns.periods import year_split

    return year_split(connection, user_id, as_of=as_of)


CHANGE_NAMES = {"7 days": "this week's change", "30 days": "the 30-day change"}


def like_for_like_changes(
    connection: Connection,
    user_id: int,
    as_of: date,
    found: list[Change],
    warnings: list[Notice],
) -> list[Change]:
    """Each change over the accounts counted on both of its days, never a drop in coverage
    shown as a loss; the week's note is added to `warnings` (first)."""
    adjusted = []
    for change in found:
        if change.since is None or change.start is None or change.absolute is None:
            adjusted.append(change)
            continue
        coverage = like_for_like(connection, user_id, change.since, as_of)
        if coverage is None or coverage.comparable:
            adjusted.append(change)
            continue
        what = CHANGE_NAMES.get(change.label, "the year-to-date change")
        note = coverage.sentence(what)
        adjusted.append(
            replace(
                change,
                start=coverage.start_total,
                absolute=coverage.change,
                ratio=ratio(coverage.change, coverage.start_total),
                note=note,
            )
        )
        if change is found[0] and note:
            warnings.insert(0, Notice("coverage", "", note[0].upper() + note[1:] + "."))
    return adjusted


def _account_rows(connection: Connection, user_id: int, as_of: date) -> list[AccountRow]:
    now = mart_account_daily.alias("now")
    before = mart_account_daily.alias("before")
    fa = financial_accounts
    rows = connection.execute(
        select(
            now.c.account_id,
            fa.c.name,
            brokers.c.name.label("broker"),
            fa.c.account_type,
            now.c.currency,
            now.c.balance,
            now.c.snapshot_date,
            now.c.balance_base_currency.label("base_amount"),
            before.c.balance_base_currency.label("week_ago"),
            before.c.account_id.is_not(None).label("existed_week_ago"),
        )
        .join(fa, fa.c.id == now.c.account_id)
        .join(brokers, brokers.c.id == fa.c.broker_id)
        .outerjoin(
            before,
            and_(
                before.c.user_id == now.c.user_id,
                before.c.account_id == now.c.account_id,
                before.c.day == as_of - timedelta(days=WEEK),
            ),
        )
        .where(now.c.user_id == user_id, now.c.day == as_of)
    )
    return [AccountRow(**row._mapping) for row in rows]


def _breakdowns(connection: Connection, user_id: int) -> dict[str, tuple[list, str, date]]:
    b = mart_breakdowns
    found: dict[str, tuple[list, str, date]] = {}
    for row in connection.execute(
        select(b.c.dimension, b.c.category, b.c.amount, b.c.base_currency, b.c.as_of).where(
            b.c.user_id == user_id, b.c.dimension.in_(("asset_class", "currency"))
        )
    ):
        items, _, _ = found.setdefault(row.dimension, ([], row.base_currency, row.as_of))
        items.append((row.category, row.amount))
    return found


def _warnings(
    connection: Connection,
    user_id: int,
    username: str,
    as_of: date,
    today: date,
    stale_findings: list[Finding],
) -> list[Notice]:
    fa = financial_accounts
    notices: list[Notice] = []
    # The demo offline, after the rates stop: its figures end on their last day by design,
    # and its sync skips later days (no sync is late). One sentence says so, and how to
    # bring it up to today, instead of "N days old" and "never synced".
    waiting = demo_accounts_waiting(connection, user_id, today)
    if waiting and (today - as_of).days > OUTDATED_AFTER_DAYS:
        from wealth_pipeline.settings import load_settings

        notices.append(
            Notice("rates", "", figures_as_of_sentence(short_day(as_of), load_settings()))
        )
    elif (today - as_of).days > OUTDATED_AFTER_DAYS:
        notices.append(
            Notice(
                "outdated",
                "",
                f"The newest snapshot is from {short_day(as_of)}, {(today - as_of).days} days "
                "ago: nothing newer has reached the warehouse since.",
            )
        )
    accounts = {
        row.id: row
        for row in connection.execute(
            select(fa.c.id, fa.c.name, fa.c.last_synced_at).where(fa.c.user_id == user_id)
        )
    }
    names = {account_id: row.name for account_id, row in accounts.items()}
    last_data = dict(
        connection.execute(
            select(account_snapshots.c.account_id, func.max(account_snapshots.c.snapshot_date))
            .join(fa, fa.c.id == account_snapshots.c.account_id)
            .where(fa.c.user_id == user_id)
            .group_by(account_snapshots.c.account_id)
        ).all()
    )
    for row in connection.execute(
        select(fa.c.id, fa.c.name, fa.c.status, fa.c.status_message)
        .where(fa.c.user_id == user_id, fa.c.status.in_(("error", "pending_auth")))
        .order_by(fa.c.name, fa.c.id)
    ):
        if row.status == "pending_auth":
            why = why_of(row.status_message)
            last = last_data.get(row.id)
            notices.append(
                Notice(
                    "pending_auth",
                    row.name,
                    "Waiting for you, not failed"
                    + (f": {why}" if why else "")
                    + f". Last data: {short_day(last) if last else 'none yet'}.",
                    sync_command(row.id, username),
                )
            )
        else:
            notices.append(
                Notice(
                    "error",
                    row.name,
                    "The last sync failed"
                    + (f": {row.status_message}" if row.status_message else "."),
                    f"wealth accounts test {row.id} --user {username}",
                )
            )
    flagged = {n.subject for n in notices}
    stale = [
        f"{names[f.account_id]}: {_last_synced(accounts[f.account_id].last_synced_at)}, "
        + _last_data(last_data.get(f.account_id))
        for f in stale_findings
        if f.account_id in names and names[f.account_id] not in flagged
        and f.account_id not in waiting
    ]
    if stale:
        hours = connection.execute(
            select(profiles.c.sync_frequency_hours).where(profiles.c.user_id == user_id)
        ).scalar()
        notices.append(
            Notice(
                "stale",
                f"{len(stale)} account{'s' if len(stale) > 1 else ''}",
                f"Not synced within their sync frequency (every {hours} h): is the daily_sync "
                "schedule running?",
                items=tuple(stale),
            )
        )
    notices.extend(_unconverted(connection, user_id, as_of, names))
    return notices


def _last_synced(moment: datetime | None) -> str:
    """`last synced 28 Nov 2026 11:05` in Berlin time (the report's clock), or `never synced`."""
    if moment is None:
        return "never synced"
    local = clock.local(moment)
    return f"last synced {short_day(local.date())} {local:%H:%M}"


def _last_data(day: date | None) -> str:
    return f"last data {short_day(day)}" if day else "no data yet"


def _unconverted(
    connection: Connection, user_id: int, as_of: date, names: dict[int, str]
) -> list[Notice]:
    """Snapshots of the chart's window without a base amount, per account, with the reason."""
    s = account_snapshots
    rows = connection.execute(
        select(s.c.account_id, s.c.snapshot_date, s.c.currency, s.c.conversion_note)
        .join(financial_accounts, financial_accounts.c.id == s.c.account_id)
        .where(
            financial_accounts.c.user_id == user_id,
            s.c.balance_base_currency.is_(None),
            s.c.snapshot_date.between(as_of - timedelta(days=CHART_DAYS), as_of),
        )
        .order_by(s.c.account_id, s.c.snapshot_date)
    ).all()
    per_account: dict[int, list] = defaultdict(list)
    for row in rows:
        per_account[row.account_id].append(row)
    notices = []
    for account_id, found in per_account.items():
        last = found[-1]
        days = ", ".join(short_day(r.snapshot_date) for r in found[-LISTED_UNCONVERTED_DAYS:])
        more = len(found) - LISTED_UNCONVERTED_DAYS
        when = f"{days} and {more} earlier" if more > 0 else days
        reason = last.conversion_note or "no exchange rate yet"
        notices.append(
            Notice(
                "unconverted",
                names.get(account_id, f"account {account_id}"),
                f"{len(found)} snapshot(s) in {last.currency} not converted ({when}): {reason}. "
                "They are left out of the totals.",
                "wealth conversions fix --dry-run",
            )
        )
    return notices
