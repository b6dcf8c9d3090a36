"""`wealth accounts auth`: sync an account now, with its owner there for the login.

The one command for every account that waits for a person: an assisted broker (VIAC's SMS
code, a fresh Morgan Stanley token, Commerzbank's photoTAN) or an unattended one whose bank
asked for an approval. With the user's password it resumes a login the daily sync paused
(or reuses a session still alive, or logs in anew), completes the second factor on the
terminal (waits for the app approval, asks for the code or token without echo, lets the
person choose a TAN medium), writes today's account-day (Berlin) with its positions, and
then fills the missing days of the last year from the history the service delivers, so an
account synced once a month still gets every day. The account is active again.
"""

from __future__ import annotations

from datetime import date, timedelta

import click

from wealth_pipeline import clock
from wealth_pipeline.cli.accounts import accounts, engine, open_owned, user_option
from wealth_pipeline.cli.common import ROW_ID, days_option, password_env_option


@accounts.command("auth")
@click.argument("account_id", type=ROW_ID)
@user_option
@days_option("How far back missing days are filled from the broker's history.")
@password_env_option
def accounts_auth(account_id: int, username: str, days: int, password_env: str | None) -> None:
    """Sync ACCOUNT_ID now, with you there for its login: give the code, token or approval
    it asks for; today's balance and positions are written and missing days filled."""
    from sqlalchemy import update

    from wealth_pipeline.brokers.base import AuthenticationFailed, BrokerError, TwoFactorRequired
    from wealth_pipeline.brokers.connection import TAN_DIALOG
    from wealth_pipeline.cli.second_factor import SecondFactor, login, run_with_second_factor
    from wealth_pipeline.history.backfill import Fetched as History
    from wealth_pipeline.history.backfill import read_history, write_history
    from wealth_pipeline.sync.account import (
        Fetched,
        Outcome,
        drop_session,
        record_outcome,
        write_account_day,
    )
    from wealth_pipeline.sync.due import DueAccount
    from wealth_pipeline.sync.waiting import waiting_reason
    from wealth_pipeline.warehouse.schema import financial_accounts

    day = clock.today()
    account, conn = open_owned(username, account_id, password_env, today=day, with_paused=True)
    click.echo(f"Account {account_id}: {account['name']} ({conn.broker_name})")
    alive = conn.paused is None and conn.sync_mode == "assisted" and _alive(conn.integration)
    if conn.paused is None and conn.sync_mode == "assisted" and not alive:
        conn = renew_credentials(conn, account, day)
    integration = conn.integration
    second = SecondFactor.for_integration(integration)
    due = DueAccount(
        account_id, conn.user_id, conn.username, conn.broker_code, conn.identifier, True
    )

    paused_again = None
    failure: str | None = None
    fetched: Fetched | None = None
    history: History | None = None
    history_note: str | None = None
    start = day - timedelta(days=days - 1)  # the window of `wealth accounts backfill`
    try:
        with conn:
            logged_in = False
            if conn.paused is not None:
                click.echo("Resuming the paused login ...")
                try:
                    second.complete(conn.paused)
                    logged_in = True
                except (AuthenticationFailed, TwoFactorRequired):
                    raise
                except BrokerError as exc:
                    click.echo(
                        f"The bank no longer holds the paused login ({second.scrub(str(exc))}); "
                        "logging in anew."
                    )
            if not logged_in and alive:
                click.echo("Reusing the session of your last sync (still alive).")
                logged_in = True
            if not logged_in:
                login(integration, second)
            identifier = conn.identifier
            balance = run_with_second_factor(lambda: integration.get_balance(identifier), second)
            positions = run_with_second_factor(
                lambda: integration.get_positions(identifier), second
            )
            fetched = Fetched(balance, positions)
            if integration.supports_historical_data() and start < day:
                try:
                    history = run_with_second_factor(
                        lambda: read_history(conn, start, day - timedelta(days=1)), second
                    )
                except BrokerError as exc:  # today is written all the same
                    history_note = f"History not filled: {second.scrub(str(exc))}"
    except TwoFactorRequired as exc:
        paused_again = exc.auth
        failure = f"still waiting for you: {second.scrub(str(exc))}"
    except BrokerError as exc:
        failure = second.scrub(str(exc))
    except (click.Abort, click.ClickException):
        raise
    except Exception as exc:  # a bug in an integration: its text might hold a secret
        failure = f"the {conn.broker_code} integration failed unexpectedly ({type(exc).__name__})"

    conn.remember(*second.entered)
    blobs = conn.session_blobs(paused_again)
    with engine().begin() as connection:
        if fetched is None:
            status = "pending_auth" if paused_again is not None else "error"
            reason = failure or "the login did not complete"
            if status == "pending_auth":
                reason = waiting_reason(reason, conn.last_data, conn.command)
            outcome = Outcome(account_id, conn.broker_code, status, reason)
            record_outcome(connection, due, day, outcome, run_id="wealth-accounts-auth",
                           session_blobs=blobs)  # fmt: skip
        else:
            outcome = write_account_day(
                connection, due, day, fetched, run_id="wealth-accounts-auth",
                secret_values=conn.secrets, session_blobs=blobs,
            )  # fmt: skip
            drop_session(connection, account_id, TAN_DIALOG)
            connection.execute(
                update(financial_accounts)
                .where(financial_accounts.c.id == account_id)
                .values(status="active", status_message=None)
            )
    if fetched is None:
        raise click.ClickException(failure or "the login did not complete")
    balance = fetched.balance
    click.echo(
        f"Balance: {balance.balance} {balance.currency}; positions: {len(fetched.positions)}"
    )
    if outcome.status == "skipped":
        click.echo(f"Not written: {outcome.reason}.")
    else:
        click.echo(f"Wrote {day.isoformat()} for account {account_id}; it is active again.")
    if history is not None:
        _fill(engine(), conn, start, day - timedelta(days=1), history, write_history)
    if history_note:
        click.echo(history_note + ".")


def renew_credentials(conn, account, day: date):
    """Ask for the credential fields a person gives again at each sync (a session token that
    lives minutes: `x-renewed-at-sync` in the broker's schema), store them encrypted, and
    reopen the account with them. Other brokers are returned as they are."""
    from sqlalchemy import update

    from wealth_pipeline.brokers.catalogue import (
        CredentialsInvalid,
        credential_fields,
        validate_credentials,
    )
    from wealth_pipeline.brokers.connection import OpenFailed, open_account
    from wealth_pipeline.cli.common import settings_or_usage_error
    from wealth_pipeline.security.vault import encrypt_credentials
    from wealth_pipeline.warehouse.schema import financial_accounts

    schema = conn.broker["credential_schema"] or {}
    renewed = [field for field in credential_fields(schema) if field.renewed]
    if not renewed or conn.unlocked is None:
        return conn
    click.echo(f"{conn.broker_name} needs a fresh {', '.join(f.title for f in renewed)}.")
    values = dict(conn.integration.credentials)
    for field in renewed:
        if field.description:
            click.echo(f"  {field.description}")
        values[field.name] = click.prompt(field.title, hide_input=field.secret).strip()
        conn.remember(values[field.name])
    try:
        credentials = validate_credentials(schema, values)
    except CredentialsInvalid as exc:
        raise click.ClickException(str(exc)) from None
    blob = encrypt_credentials(conn.unlocked, conn.account_id, credentials)
    with engine().begin() as connection:
        connection.execute(
            update(financial_accounts)
            .where(financial_accounts.c.id == conn.account_id)
            .values(encrypted_credentials=blob)
        )
    conn.integration.close()
    try:
        return open_account(
            engine(), conn.account_id, unlock=conn.unlocked, settings=settings_or_usage_error(),
            today=day, user_id=conn.user_id, with_paused=True,
        )  # fmt: skip
    except OpenFailed as exc:
        raise click.ClickException(str(exc)) from None


def _alive(integration) -> bool:
    from wealth_pipeline.brokers.base import BrokerError

    try:
        return bool(integration.resume_session())
    except BrokerError:
        return False


def _fill(engine, conn, start: date, end: date, history, write_history) -> None:
    """Write the missing days of [start, end] that the service delivered (never over a day
    already held, and never over a person's snapshot)."""
    with engine.begin() as connection:
        report = write_history(
            connection, conn.account_id, conn.broker_code, start, end, history,
            secret_values=conn.secrets,
        )  # fmt: skip
    click.echo(
        f"History {start} .. {end}: {report.fetched} day(s) from {conn.broker_name}, "
        f"{report.written} missing day(s) filled, {report.kept + len(report.protected)} kept."
    )
