"""`wealth import`: past balances from files, all or nothing."""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

import click

from wealth_pipeline import clock
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
            today=clock.today(),
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


def _column(text: str | None) -> tuple[str, ...] | None:
    return (text.lower(),) if text else None


@import_group.command("flows")
@click.argument("account_id", type=int)
@click.argument("file", type=click.File("rb"))
@user_option
@click.option(
    "--preset",
    type=click.Choice(["dkb", "commerzbank", "zkb", "generic"]),
    default="generic",
    show_default=True,
    help="The bank's export format; generic reads date,amount[,description] by default.",
)
@click.option("--date-column", default=None, help="Header of the booking date column.")
@click.option("--amount-column", default=None, help="Header of the signed amount column.")
@click.option(
    "--debit-column", default=None, help="Header of the debit column (with --credit-column)."
)
@click.option("--credit-column", default=None, help="Header of the credit column.")
@click.option("--description-column", multiple=True, help="Header(s) of the text columns.")
@click.option("--id-column", default=None, help="Header of a unique booking reference.")
@click.option("--kind-column", default=None, help="Header of a column naming each row's kind.")
@click.option("--delimiter", default=None, help="Column separator (default: the preset's).")
@click.option("--decimal-comma/--decimal-point", default=None, help="How amounts write decimals.")
@click.option("--date-format", multiple=True, help="strptime format(s), e.g. %d.%m.%Y.")
@click.option(
    "--no-coverage",
    is_flag=True,
    help="Do not declare the file's days complete (a partial export).",
)
def import_flows(
    account_id: int,
    file: BinaryIO,
    username: str,
    preset: str,
    date_column: str | None,
    amount_column: str | None,
    debit_column: str | None,
    credit_column: str | None,
    description_column: tuple[str, ...],
    id_column: str | None,
    kind_column: str | None,
    delimiter: str | None,
    decimal_comma: bool | None,
    date_format: tuple[str, ...],
    no_coverage: bool,
) -> None:
    """Import an account's cash flows from a bank's CSV export (DKB, Commerzbank, ZKB) or any
    CSV with --date-column/--amount-column (or --debit-column/--credit-column).

    Every row is checked first; if any is bad, each problem is listed with its line number
    and nothing is written. Importing the same file again changes nothing. The days from the
    file's first to its last booking count as complete (returns are computed for them)
    unless --no-coverage.
    """
    from wealth_pipeline.flows import csv_import
    from wealth_pipeline.flows.store import FlowError, write_flows

    name = Path(file.name).name if file.name and file.name != "<stdin>" else "stdin"
    try:
        mapping = csv_import.mapping_for(
            preset,
            date=_column(date_column),
            amount=_column(amount_column) or (() if debit_column else None),
            debit=_column(debit_column),
            credit=_column(credit_column),
            description=tuple(c.lower() for c in description_column),
            reference=_column(id_column),
            kind=_column(kind_column),
            delimiter=delimiter,
            decimal_comma=decimal_comma,
            date_formats=date_format,
        )
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    text = csv_import.decode(file.read())
    parsed = csv_import.parse_flows_csv(text, mapping, today=clock.today())
    with engine().begin() as connection:
        _, account = owned_account(connection, username, account_id)
        errors = list(parsed.errors)
        if parsed.currency and parsed.currency != account["currency"]:
            errors.insert(
                0,
                csv_import.RowError(
                    0,
                    f"the file is in {parsed.currency} but the account is in "
                    f"{account['currency']}: wrong file or wrong account?",
                ),
            )
        if errors:
            listing = "\n".join(f"  {error}" for error in errors)
            raise click.ClickException(
                f"{name}: {len(errors)} problem(s); nothing was imported.\n{listing}"
            )
        try:
            report = write_flows(
                connection,
                account_id,
                parsed.flows,
                source="import",
                covered=None if no_coverage else parsed.span,
            )
        except FlowError as exc:
            raise click.ClickException(f"{name}: {exc}; nothing was imported.") from None
    first, last = parsed.span
    click.echo(
        f"Imported {len(parsed.flows)} flow(s) into account {account_id} ({first} .. {last}): "
        f"{report.describe()}"
        + (
            f"; {parsed.skipped} row(s) skipped (pending or continuation lines)"
            if parsed.skipped
            else ""
        )
        + "."
    )
