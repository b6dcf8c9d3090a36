"""`wealth accounts backfill`: fill an account's past days from its broker's history.

Registered on the `accounts` group (see `cli/__init__.py`). Brokers with history: IBKR, True
Wealth, VIAC and the demo. The password is asked only when the account holds credentials;
a second factor is completed interactively, as in `wealth accounts test`.
"""

from __future__ import annotations

import click

from wealth_pipeline.cli.accounts import engine, failing, owned_account, unlock_user, user_option
from wealth_pipeline.cli.common import (
    ROW_ID,
    days_option,
    password_env_option,
    settings_or_usage_error,
)


@click.command("backfill")
@click.argument("account_id", type=ROW_ID)
@user_option
@days_option("How many days back from today (as far as the broker reaches).")
@click.option(
    "--overwrite",
    is_flag=True,
    help="Replace existing synced snapshots too (manual and imported ones never).",
)
@password_env_option
def accounts_backfill(
    account_id: int, username: str, days: int, overwrite: bool, password_env: str | None
) -> None:
    """Fill ACCOUNT_ID's missing days from its broker's history, converted, in one go.

    Existing snapshots stay unless --overwrite; manual and imported snapshots always stay.
    """
    from wealth_pipeline.cli.second_factor import interactive_login
    from wealth_pipeline.history.backfill import HistoryError, backfill_history

    settings = settings_or_usage_error()
    with engine(readonly=True).connect() as connection:
        owner, account = owned_account(connection, username, account_id)
    unlocked = None
    if account["encrypted_credentials"] is not None:
        unlocked = unlock_user(owner.username, password_env)
        if unlocked.user_id != owner.id:
            raise click.ClickException(f"the password unlocked another user than {username}")
    today = None
    if account["broker_code"] == "demo":
        from wealth_pipeline.history.demo import demo_clock

        today = demo_clock(settings, engine())

    try:
        report = backfill_history(
            engine(),
            account_id,
            days=days,
            overwrite=overwrite,
            today=today,
            unlock=unlocked,
            settings=settings,
            with_positions=True,
            login=interactive_login,
        )
    except HistoryError as exc:
        raise failing(exc) from None
    click.echo(report.describe()[0].upper() + report.describe()[1:] + ".")
    if report.written:
        from wealth_pipeline.cli import record
        from wealth_pipeline.history.demo import flow_days, snapshot_days

        command = "wealth accounts backfill"
        days = snapshot_days(engine(), owner.id, report.start, report.end, [account_id])
        record.snapshot_days(settings, command, days, 1)
        if report.flows:
            flows = flow_days(engine(), owner.id, report.start, report.end, [account_id])
            record.snapshot_days(settings, command, flows, 1, record.FLOWS_ASSET)
