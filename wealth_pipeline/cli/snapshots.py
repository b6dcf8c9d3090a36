"""`wealth snapshots`: balances recorded by hand for manual accounts."""

from __future__ import annotations

from collections.abc import Sequence

import click

from wealth_pipeline import clock
from wealth_pipeline.cli import tables
from wealth_pipeline.cli.accounts import engine, failing, owned_account, user_option
from wealth_pipeline.cli.common import ROW_ID
from wealth_pipeline.cli.tables import echo_table


@click.group()
def snapshots() -> None:
    """Account balances, one per account and day."""


@snapshots.command("add")
@click.argument("account_id", type=ROW_ID)
@user_option
@click.option("--date", "day", required=True, help="The day of the balance (YYYY-MM-DD).")
@click.option("--balance", required=True, help="The balance, e.g. 1234.56 (at most 4 decimals).")
@click.option("--currency", help="The balance's currency; must be the account's (the default).")
@click.option("--replace", is_flag=True, help="Overwrite a snapshot already recorded that day.")
def snapshots_add(
    account_id: int,
    username: str,
    day: str,
    balance: str,
    currency: str | None,
    replace: bool,
) -> None:
    """Record a manual account's balance on a day."""
    from wealth_pipeline.accounts import AccountError, find_user, get_account, known_currency
    from wealth_pipeline.snapshots.store import (
        NewSnapshot,
        SnapshotError,
        SnapshotExists,
        write_snapshot,
    )
    from wealth_pipeline.snapshots.values import parse_balance, parse_currency, parse_day

    try:
        when = parse_day(day, today=clock.today())
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--date") from None
    try:
        amount = parse_balance(balance)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--balance") from None
    with engine().begin() as connection:
        try:
            owner = find_user(connection, username)
            account = get_account(connection, owner.id, account_id)
            if not account["is_manual"]:
                raise AccountError(
                    f"account {account_id} is synced from {account['broker_code']}: balances "
                    "are added by hand only to manual accounts (past balances of any "
                    "account: wealth import csv)"
                )
            code = account["currency"]
            if currency is not None:
                code = parse_currency(currency, known_currency)
                if code != account["currency"]:
                    raise AccountError(
                        f"currency {code} differs from the account's currency {account['currency']}"
                    )
            stored = write_snapshot(
                connection,
                account_id,
                NewSnapshot(day=when, balance=amount, currency=code),
                source="manual",
                replace=replace,
            )
        except SnapshotExists:
            raise click.ClickException(
                f"account {account_id} already has a snapshot for {when} (--replace overwrites it)"
            ) from None
        except (AccountError, SnapshotError, ValueError) as exc:
            raise failing(exc) from None
    verb = "Replaced" if stored.replaced else "Recorded"
    click.echo(f"{verb} {when} for account {account_id}: {describe(stored)}")


def describe(stored) -> str:
    """ "1234.5600 USD = 1100.0000 EUR (rate ..., ECB rates of ...)" or why not converted."""
    text = f"{stored.balance} {stored.currency}"
    if stored.balance_base_currency is None:
        return f"{text}; not converted to {stored.base_currency}: {stored.no_rate_reason}"
    if stored.currency == stored.base_currency:
        return text
    return (
        f"{text} = {stored.balance_base_currency} {stored.base_currency} "
        f"(rate {stored.exchange_rate_used.normalize()}, ECB rates of {stored.rate_date})"
    )


@snapshots.command("list")
@click.argument("account_id", type=ROW_ID)
@user_option
@click.option(
    "--limit", type=click.IntRange(min=1), default=30, show_default=True, help="Newest N days."
)
@tables.exact_option
def snapshots_list(account_id: int, username: str, limit: int, exact: bool) -> None:
    """List an account's snapshots, newest first."""
    from sqlalchemy import select

    from wealth_pipeline.warehouse.schema import account_snapshots as table

    with engine(readonly=True).connect() as connection:
        owned_account(connection, username, account_id)
        rows = connection.execute(
            select(table)
            .where(table.c.account_id == account_id)
            .order_by(table.c.snapshot_date.desc())
            .limit(limit)
        ).all()
    if not rows:
        click.echo(f"Account {account_id} has no snapshots yet.")
        return
    lines: list[Sequence[object]] = [("DATE", "BALANCE", "BASE AMOUNT", "SOURCE")]
    for row in rows:
        base = (
            tables.amount(row.balance_base_currency, row.base_currency, exact=exact)
            if row.balance_base_currency is not None
            else "(no rate)"
        )
        balance = tables.amount(row.balance, row.currency, exact=exact)
        lines.append((row.snapshot_date, balance, base, row.snapshot_source))
    echo_table(lines)


@snapshots.command("remove")
@user_option
@click.option("--from", "first", required=True, help="First day to remove (YYYY-MM-DD).")
@click.option("--to", "last", help="Last day to remove (YYYY-MM-DD); default: --from.")
@click.option(
    "--account",
    "account_ids",
    type=int,
    multiple=True,
    help="Only this account (repeatable); default: all the user's accounts. "
    "`wealth accounts list --user U` shows the ids.",
)
@click.option("--dry-run", is_flag=True, help="Say what would be removed; remove nothing.")
def snapshots_remove(
    username: str, first: str, last: str | None, account_ids: tuple[int, ...], dry_run: bool
) -> None:
    """Remove snapshots of a day or range (any source: synced, manual, imported), with their
    positions. The marts are rebuilt from the earliest day removed (`wealth marts build`, or
    the marts sensor within minutes)."""
    from wealth_pipeline.cli.common import parse_day
    from wealth_pipeline.snapshots.store import remove_snapshots

    start = parse_day(first)
    end = parse_day(last) or start
    assert start is not None and end is not None
    if start > end:
        raise click.UsageError(f"--from {start} is after --to {end}")
    with engine().begin() as connection:
        for account_id in account_ids:
            owner, _ = owned_account(connection, username, account_id)
        if not account_ids:
            from wealth_pipeline.accounts import AccountError, find_user

            try:
                owner = find_user(connection, username)
            except AccountError as exc:
                raise failing(exc) from None
        removed = remove_snapshots(
            connection, owner.id, start, end, account_ids or None, dry_run=dry_run
        )
    if not removed.snapshots:
        click.echo(f"No snapshots of {username} between {start} and {end}: nothing removed.")
        return
    verb = "Would remove" if dry_run else "Removed"
    accounts = ", ".join(map(str, removed.accounts))
    click.echo(
        f"{verb} {removed.snapshots} snapshot(s) with {removed.positions} position(s) of "
        f"account(s) {accounts}, {removed.first_day} .. {removed.last_day}."
    )
    if not dry_run:
        click.echo(
            f"The marts are rebuilt from {removed.first_day} on by the next build "
            "(`wealth marts build`, or the marts sensor)."
        )
