"""`wealth import`: past balances from files, all or nothing."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import BinaryIO

import click

from wealth_pipeline.cli.accounts import engine, owned_account, user_option
from wealth_pipeline.cli.common import ROW_ID, settings_or_usage_error

MAX_NOTES = 10


@click.group("import")
def import_group() -> None:
    """Import balances from files."""


@import_group.command("csv")
@click.argument("account_id", type=ROW_ID)
@click.argument("file", type=click.File("rb"))
@user_option
@click.option("--replace", is_flag=True, help="Overwrite snapshots already recorded those days.")
def import_csv(account_id: int, file: BinaryIO, username: str, replace: bool) -> None:
    """Import an account's balances from a CSV file with columns date,balance,currency.

    Every row is checked first; if any is bad, each problem is listed with its line number
    and nothing is written. FILE may be - for standard input.
    """
    from sqlalchemy import select

    from wealth_pipeline.accounts import known_currency
    from wealth_pipeline.snapshots.csv_import import (
        MAX_LISTED_ERRORS,
        conflicts,
        decode,
        parse_balance_csv,
    )
    from wealth_pipeline.snapshots.store import (
        NewSnapshot,
        SnapshotError,
        lock_account,
        write_snapshots,
    )
    from wealth_pipeline.warehouse.schema import account_snapshots as table

    name = Path(file.name).name if file.name and file.name != "<stdin>" else "stdin"
    try:
        text = decode(file.read())
    except ValueError as exc:
        raise click.ClickException(f"{name}: {exc}") from None
    with engine().begin() as connection:
        _, account = owned_account(connection, username, account_id)
        lock_account(connection, account_id)  # a concurrent import of it waits, then sees ours
        parsed = parse_balance_csv(
            text,
            account_currency=account["currency"],
            known_currency=known_currency,
            today=date.today(),
        )
        errors, count, bad_lines = list(parsed.errors), parsed.error_count, parsed.bad_lines
        if parsed.rows and not replace:
            days = [row.day for row in parsed.rows]
            existing = set(
                connection.execute(
                    select(table.c.snapshot_date).where(
                        table.c.account_id == account_id,
                        table.c.snapshot_date.between(min(days), max(days)),
                    )
                ).scalars()
            )
            taken = conflicts(parsed.rows, existing)
            errors.extend(taken)
            count, bad_lines = count + len(taken), bad_lines + len(taken)
        if count:
            errors.sort(key=lambda error: error.line)
            total = len(parsed.rows) + parsed.bad_lines
            head = (
                f"{name}: {bad_lines} of {total} rows are invalid"
                if bad_lines
                else f"{name}: cannot import"
            )
            listing = "\n".join(f"  {error}" for error in errors[:MAX_LISTED_ERRORS])
            if count > MAX_LISTED_ERRORS:
                listing += f"\n  ... and {count - MAX_LISTED_ERRORS} more errors"
            raise click.ClickException(f"{head}; nothing was imported.\n{listing}")
        try:
            stored = write_snapshots(
                connection,
                account_id,
                [
                    NewSnapshot(
                        day=row.day,
                        balance=row.balance,
                        currency=row.currency,
                        raw_data={"file": name, "line": row.line},
                    )
                    for row in parsed.rows
                ],
                source="import",
                replace=replace,
            )
        except SnapshotError as exc:
            raise click.ClickException(f"{name}: {exc}; nothing was imported.") from None
    replaced = sum(1 for s in stored if s.replaced)
    first, last = min(s.day for s in stored), max(s.day for s in stored)
    from wealth_pipeline.cli import record

    record.snapshot_days(
        settings_or_usage_error(), "wealth import csv", {s.day: 1 for s in stored}, 1
    )
    click.echo(
        f"Imported {len(stored)} snapshot(s) into account {account_id} ({first} .. {last})"
        + (f", {replaced} replaced." if replaced else ".")
    )
    unconverted = [s for s in stored if s.balance_base_currency is None]
    base = stored[0].base_currency
    if not unconverted:
        click.echo(f"All converted to {base}.")
        return
    click.echo(
        f"{len(unconverted)} not converted to {base} (no rate); their base amount stays empty:"
    )
    for snapshot in unconverted[:MAX_NOTES]:
        click.echo(f"  {snapshot.day}: {snapshot.no_rate_reason}")
    if len(unconverted) > MAX_NOTES:
        click.echo(f"  ... and {len(unconverted) - MAX_NOTES} more")
