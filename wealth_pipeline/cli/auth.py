"""`wealth accounts auth`: finish a sync that paused for a person (app approval or TAN).

The unattended sync keeps the bank's paused dialog encrypted; this command, with the
user's password, resumes it (or opens a new login when the bank no longer holds it), waits
for the app approval or asks for the TAN without echo, then fetches balance and positions
in that same session and writes today's account-day (Berlin). The account is active again.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import click

from wealth_pipeline.cli.accounts import (
    CLIENT_STATE,
    SecondFactor,
    accounts,
    engine,
    failing,
    login,
    owned_account,
    run_with_second_factor,
    scrubbed,
    unlock_user,
    user_option,
)
from wealth_pipeline.cli.common import ROW_ID, password_env_option, settings_or_usage_error


@accounts.command("auth")
@click.argument("account_id", type=ROW_ID)
@user_option
@password_env_option
def accounts_auth(account_id: int, username: str, password_env: str | None) -> None:
    """Complete a login the daily sync paused (approve in the app or enter the TAN) and
    write today's balance and positions."""
    from sqlalchemy import update

    from wealth_pipeline.accounts import load_session
    from wealth_pipeline.brokers.base import (
        AuthenticationFailed,
        AuthResult,
        BrokerError,
        TwoFactorRequired,
        context_from_settings,
    )
    from wealth_pipeline.brokers.catalogue import get_broker, secret_fields
    from wealth_pipeline.brokers.registry import build_integration
    from wealth_pipeline.partitions import TIMEZONE
    from wealth_pipeline.security.vault import (
        VaultError,
        decrypt_credentials,
        decrypt_state,
        encrypt_state,
    )
    from wealth_pipeline.sync.account import (
        TAN_DIALOG,
        Fetched,
        drop_session,
        record_outcome,
        write_account_day,
    )
    from wealth_pipeline.sync.due import DueAccount
    from wealth_pipeline.warehouse.schema import account_sessions, financial_accounts

    settings = settings_or_usage_error()
    with engine(readonly=True).connect() as connection:
        owner, account = owned_account(connection, username, account_id)
        broker = get_broker(connection, account["broker_code"])
        stored_state = load_session(connection, account_id, CLIENT_STATE)
        dialog_blob = load_session(connection, account_id, TAN_DIALOG)
        challenge = connection.execute(
            account_sessions.select().where(
                account_sessions.c.account_id == account_id,
                account_sessions.c.purpose == TAN_DIALOG,
            )
        ).first()
    assert broker is not None  # the account's foreign key guarantees it

    unlocked = unlock_user(owner.username, password_env)
    if unlocked.user_id != owner.id:
        raise click.ClickException(f"the password unlocked another user than {username}")
    credentials: dict[str, Any] = {}
    state = dialog = None
    try:
        if account["encrypted_credentials"] is not None:
            credentials = decrypt_credentials(
                unlocked, account_id, bytes(account["encrypted_credentials"])
            )
        if stored_state is not None:
            state = decrypt_state(unlocked, account_id, CLIENT_STATE, stored_state)
        if dialog_blob is not None:
            dialog = decrypt_state(unlocked, account_id, TAN_DIALOG, dialog_blob)
    except VaultError as exc:
        raise failing(exc) from None

    day = datetime.now(ZoneInfo(TIMEZONE)).date()
    context = replace(context_from_settings(settings, state=state), today=day)
    try:
        integration = build_integration(broker, credentials, context)
    except LookupError as exc:
        raise failing(exc) from None
    names = set(secret_fields(account["credential_schema"] or {})) | set(integration.secret_fields)
    secrets = [str(credentials[name]) for name in names if credentials.get(name)]
    second = SecondFactor(integration, context.two_fa_wait_seconds, context.poll_interval_seconds)
    identifier = account["account_identifier"]
    due = DueAccount(account_id, owner.id, owner.username, broker["code"], identifier, True)

    click.echo(f"Account {account_id}: {account['name']} ({broker['name']})")
    paused_again: AuthResult | None = None
    failure: str | None = None
    fetched: Fetched | None = None
    try:
        with integration:
            resumed = False
            if dialog is not None:
                saved = dict(challenge.challenge or {}) if challenge is not None else {}
                paused = AuthResult(
                    success=False,
                    requires_2fa=True,
                    two_fa_type=saved.get("two_fa_type") or "tan",
                    session_data=dialog,
                    challenge_data={"text": saved["text"]} if saved.get("text") else None,
                )
                click.echo("Resuming the paused login ...")
                try:
                    second.complete(paused)
                    resumed = True
                except AuthenticationFailed:
                    raise
                except BrokerError as exc:
                    if isinstance(exc, TwoFactorRequired):
                        raise
                    click.echo(
                        f"The bank no longer holds the paused login "
                        f"({scrubbed(str(exc), secrets + second.entered)}); logging in anew."
                    )
            if not resumed:
                login(integration, second)
            balance = run_with_second_factor(lambda: integration.get_balance(identifier), second)
            positions = run_with_second_factor(
                lambda: integration.get_positions(identifier), second
            )
            fetched = Fetched(balance, positions)
    except TwoFactorRequired as exc:
        paused_again = exc.auth
        failure = f"still waiting for a person: {scrubbed(str(exc), secrets + second.entered)}"
    except BrokerError as exc:
        failure = scrubbed(str(exc), secrets + second.entered)
    except (click.Abort, click.ClickException):
        raise
    except Exception as exc:  # a bug in an integration: its text might hold a secret
        failure = f"the {broker['code']} integration failed unexpectedly ({type(exc).__name__})"

    blobs: dict[str, bytes] = {}
    try:
        new_state = integration.export_state()
    except Exception:
        new_state = None
    if new_state:
        blobs[CLIENT_STATE] = encrypt_state(unlocked, account_id, CLIENT_STATE, new_state)
    if paused_again is not None and paused_again.session_data:
        blobs[TAN_DIALOG] = encrypt_state(
            unlocked, account_id, TAN_DIALOG, paused_again.session_data
        )

    with engine().begin() as connection:
        if fetched is None:
            from wealth_pipeline.sync.account import Outcome

            status = "pending_auth" if paused_again is not None else "error"
            outcome = Outcome(account_id, broker["code"], status, failure)
            record_outcome(connection, due, day, outcome, run_id="wealth-accounts-auth",
                           session_blobs=blobs)  # fmt: skip
        else:
            outcome = write_account_day(
                connection, due, day, fetched, run_id="wealth-accounts-auth",
                secret_values=secrets, session_blobs=blobs,
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
