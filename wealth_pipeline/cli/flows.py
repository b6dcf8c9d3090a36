"""`wealth flows`: cash flows by hand (add, list, remove) and the days an account's flows are
known complete (cover); `wealth import flows` (in `cli.imports`) reads bank files."""

from __future__ import annotations

import click

from wealth_pipeline.cli.accounts import engine, owned_account, user_option
from wealth_pipeline.cli.common import parse_day
from wealth_pipeline.warehouse.schema import FLOW_KINDS


def _flow_error(exc: Exception) -> click.ClickException:
    return click.ClickException(str(exc))


@click.group()
def flows() -> None:
    """Money into and out of accounts: deposits, withdrawals, dividends, fees, transfers."""


@flows.command("add")
@click.argument("account_id", type=int)
@click.option("--date", "day", required=True, help="The day of the flow (YYYY-MM-DD).")
@click.option(
    "--amount", required=True, help="In the account's currency; outflows may be given positive."
)
@click.option("--kind", type=click.Choice(FLOW_KINDS), required=True)
@click.option("--description", default="", help="A note shown in lists.")
@click.option(
    "--covers",
    is_flag=True,
    help="Also declare the account's flows complete on this day (for manual accounts).",
)
@user_option
def add(
    account_id: int, day: str, amount: str, kind: str, description: str, covers: bool, username: str
) -> None:
    """Record one cash flow of ACCOUNT_ID by hand (withdrawals, transfers out, fees and taxes
    are stored negative)."""
    from wealth_pipeline.flows.store import FlowError, NewFlow, list_flows, write_flows

    when = parse_day(day)
    assert when is not None
    with engine().begin() as connection:
        owner, account = owned_account(connection, username, account_id)
        try:
            report = write_flows(
                connection,
                account_id,
                [NewFlow(when, amount, kind, description=description)],
                source="manual",
                covered=(when, when) if covers else None,
            )
        except FlowError as exc:
            raise _flow_error(exc) from None
        stored = list_flows(connection, owner.id, account_id=account_id, start=when, end=when)[0]
    click.echo(
        f"Added flow {stored['id']}: {when} {stored['kind']} {stored['amount']} "
        f"{stored['currency']} to {account['name']}"
        + (f" ({report.paired} transfer paired)" if report.paired else "")
    )
    if stored["amount_base_currency"] is None:
        click.echo(f"Not converted yet: {stored['conversion_note']}")


@flows.command("list")
@click.option("--account", "account_id", type=int, default=None, help="Only this account.")
@click.option("--from", "start", default=None, help="First day (YYYY-MM-DD).")
@click.option("--to", "end", default=None, help="Last day (YYYY-MM-DD).")
@click.option("--limit", type=click.IntRange(1, 100_000), default=50, show_default=True)
@user_option
def list_command(
    account_id: int | None, start: str | None, end: str | None, limit: int, username: str
) -> None:
    """The user's cash flows, newest first."""
    from wealth_pipeline.flows.store import coverage, list_flows

    with engine(readonly=True).connect() as connection:
        if account_id is not None:
            owner, _ = owned_account(connection, username, account_id)
        else:
            from wealth_pipeline.accounts import AccountError, find_user

            try:
                owner = find_user(connection, username)
            except AccountError as exc:
                raise click.ClickException(str(exc)) from None
        rows = list_flows(
            connection,
            owner.id,
            account_id=account_id,
            start=parse_day(start),
            end=parse_day(end),
            limit=limit,
        )
        covered = coverage(connection, account_id) if account_id is not None else None
    if account_id is not None:
        click.echo(
            f"flows known complete {covered[0]} .. {covered[1]}"
            if covered
            else "no days with known-complete flows: returns show its change as not explained"
        )
    if not rows:
        click.echo("no cash flows")
        return
    click.echo(
        f"{'id':>6}  {'date':10}  {'account':20}  {'kind':12}  {'amount':>14}  {'base':>14}  paired  note"
    )
    for row in rows:
        base = (
            f"{row['amount_base_currency']} {row['base_currency']}"
            if row["amount_base_currency"] is not None
            else "-"
        )
        click.echo(
            f"{row['id']:>6}  {row['flow_date']}  {row['account_name'][:20]:20}  {row['kind']:12}  "
            f"{str(row['amount']) + ' ' + row['currency']:>14}  {base:>14}  "
            f"{('#' + str(row['paired_flow_id'])) if row['paired_flow_id'] else '':6}  "
            f"{(row['description'] or row['conversion_note'] or '')[:40]}"
        )


@flows.command("remove")
@click.argument("flow_id", type=int)
@user_option
def remove(flow_id: int, username: str) -> None:
    """Delete one cash flow (a paired transfer's other leg becomes unpaired)."""
    from wealth_pipeline.accounts import AccountError, find_user
    from wealth_pipeline.flows.store import FlowError, remove_flow

    with engine().begin() as connection:
        try:
            owner = find_user(connection, username)
            removed = remove_flow(connection, owner.id, flow_id)
        except (AccountError, FlowError) as exc:
            raise click.ClickException(str(exc)) from None
    click.echo(f"Removed flow {flow_id} ({removed['flow_date']}).")


@flows.command("cover")
@click.argument("account_id", type=int)
@click.option("--from", "start", required=True, help="First day (YYYY-MM-DD).")
@click.option("--to", "end", required=True, help="Last day (YYYY-MM-DD).")
@click.option("--clear", is_flag=True, help="Forget the account's coverage first.")
@user_option
def cover(account_id: int, start: str, end: str, clear: bool, username: str) -> None:
    """Declare ACCOUNT_ID's flows complete from --from through --to: those days get returns
    (a manual account whose every deposit and withdrawal you entered)."""
    from wealth_pipeline.flows.store import FlowError, clear_coverage, coverage, extend_coverage
    from wealth_pipeline.marts.changes import record_mart_change

    first, last = parse_day(start), parse_day(end)
    assert first is not None and last is not None
    with engine().begin() as connection:
        owner, _ = owned_account(connection, username, account_id)
        try:
            if clear:
                clear_coverage(connection, account_id)
            extend_coverage(connection, account_id, first, last)
        except FlowError as exc:
            raise click.ClickException(str(exc)) from None
        record_mart_change(connection, owner.id, first, "cash flow coverage")
        now = coverage(connection, account_id)
    assert now is not None
    click.echo(f"Account {account_id}: flows known complete {now[0]} .. {now[1]}.")
