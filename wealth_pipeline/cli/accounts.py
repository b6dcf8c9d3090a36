"""`wealth accounts`: a user's accounts at brokers and banks, and manual accounts.

Credentials are asked field by field as the broker's schema lists them (secrets without
echo) or read from a JSON file, validated before anything is stored, then encrypted with
the user's data key, which the user's password unlocks. Credentials are never printed:
`accounts credentials` shows secret fields masked.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import click

from wealth_pipeline.cli.common import (
    ROW_ID,
    password_env_option,
    read_password,
    settings_or_usage_error,
)
from wealth_pipeline.cli.tables import amount, echo_table, exact_option
from wealth_pipeline.warehouse.schema import ACCOUNT_TYPES

F = TypeVar("F", bound=Callable[..., Any])


def user_option(function: F) -> F:
    return click.option(
        "--user", "username", required=True, metavar="USERNAME", help="The account owner."
    )(function)


def failing(exc: Exception) -> click.ClickException:
    return click.ClickException(str(exc))


def owned_account(connection, username: str, account_id: int):
    """The user and their account `account_id`; another user's id is "no such account"."""
    from wealth_pipeline.accounts import AccountError, find_user, get_account

    try:
        owner = find_user(connection, username)
        return owner, get_account(connection, owner.id, account_id)
    except AccountError as exc:
        raise failing(exc) from None


def engine(*, readonly: bool = False):
    """The warehouse engine; `readonly` for reads (on SQLite they never take the write lock)."""
    from wealth_pipeline.warehouse.engine import get_engine

    return get_engine(settings_or_usage_error().database_url, readonly=readonly)


def unlock_user(username: str, password_env: str | None):
    """The user's unlocked data key (asks for the password, or reads it from --password-env)."""
    from wealth_pipeline.security.vault import VaultError, unlock

    password = read_password(password_env, prompt=f"Password for {username}")
    try:
        with engine(readonly=True).connect() as connection:
            return unlock(connection, username, password)
    except VaultError as exc:
        raise failing(exc) from None


@click.group()
def accounts() -> None:
    """Your accounts at brokers and banks, and manual accounts."""


@accounts.command("add")
@user_option
@click.option("--broker", "broker_code", required=True, help="Broker code (wealth brokers list).")
@click.option("--name", required=True, help="A name for the account, e.g. 'DKB Girokonto'.")
@click.option(
    "--type",
    "account_type",
    type=click.Choice(ACCOUNT_TYPES),
    default="checking",
    show_default=True,
    help="Kind of account.",
)
@click.option(
    "--currency",
    help="The account's currency (3-letter code). Default: the broker's usual one "
    "(wealth brokers list), else your base currency.",
)
@click.option("--identifier", default="", help="IBAN, account number or the broker's id.")
@click.option(
    "--credentials-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="JSON object with the login fields instead of prompts (delete it afterwards).",
)
@password_env_option
def accounts_add(
    username: str,
    broker_code: str,
    name: str,
    account_type: str,
    currency: str | None,
    identifier: str,
    credentials_file: Path | None,
    password_env: str | None,
) -> None:
    """Add an account; its login is asked field by field unless --credentials-file is given."""
    from wealth_pipeline.accounts import (
        AccountError,
        check_currency,
        create_account,
        find_user,
        known_currency,
        needs_credentials,
    )
    from wealth_pipeline.brokers.catalogue import (
        CredentialsInvalid,
        ensure_catalogue,
        get_broker,
        validate_credentials,
    )

    with engine().begin() as connection:
        ensure_catalogue(connection)
        try:
            owner = find_user(connection, username)
            broker = get_broker(connection, broker_code)
            if broker is None:
                raise AccountError(f"unknown broker {broker_code!r} (see `wealth brokers list`)")
            code = check_currency(
                currency or broker["default_currency"] or owner.base_currency, known_currency
            )
        except AccountError as exc:
            raise failing(exc) from None
    warn_configuration(broker)
    schema = broker["credential_schema"] or {}
    if credentials_file is not None:
        given = read_credentials_file(credentials_file)
    else:
        given = prompt_credentials(schema)
    try:
        credentials = validate_credentials(schema, given)
    except CredentialsInvalid as exc:
        raise failing(exc) from None

    encrypt = None
    if needs_credentials(broker):
        from wealth_pipeline.security.vault import encrypt_credentials

        unlocked = unlock_user(owner.username, password_env)
        if unlocked.user_id != owner.id:
            raise click.ClickException(f"the password unlocked another user than {username}")

        def encrypt(account_id: int, values: dict[str, Any]) -> bytes:
            return encrypt_credentials(unlocked, account_id, values)

    try:
        with engine().begin() as connection:
            account_id = create_account(
                connection,
                owner=owner,
                broker=broker,
                name=name,
                account_type=account_type,
                currency=code,
                identifier=identifier,
                credentials=credentials,
                encrypt=encrypt,
            )
    except AccountError as exc:
        raise failing(exc) from None
    stored = "credentials encrypted" if encrypt else "no credentials"
    click.echo(
        f"Added account {account_id}: {name.strip()} ({broker['code']}, {account_type}, "
        f"{code}; {stored})."
    )
    if currency is None:
        whose = (
            f"the usual currency at {broker['name']}"
            if broker["default_currency"]
            else f"the base currency of {username}"
        )
        click.echo(f"Currency {code}, {whose}; --currency sets another.")
    if credentials_file is not None:
        click.echo(f"{credentials_file} still holds the login in plain text: delete it.")


def warn_configuration(broker: Mapping[str, Any]) -> None:
    """Say before the login is typed in when this machine cannot sync the broker yet."""
    from wealth_pipeline.brokers.base import context_from_settings
    from wealth_pipeline.brokers.registry import configuration_problems

    context = context_from_settings(settings_or_usage_error())
    for problem in configuration_problems(broker, context):
        click.echo(
            f"Warning: this machine cannot sync {broker['name']} yet: {problem}. "
            "The account is added all the same.",
            err=True,
        )


def read_credentials_file(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError) as exc:
        raise click.ClickException(f"cannot read {path}: {exc}") from None
    except json.JSONDecodeError as exc:
        # The position only: the message must not quote the file's (secret) content.
        raise click.ClickException(
            f"{path} is not valid JSON (line {exc.lineno}, column {exc.colno})"
        ) from None


def prompt_credentials(schema: Mapping[str, Any]) -> dict[str, Any]:
    """Ask each field of `schema` in order: secrets hidden, booleans as yes/no."""
    from wealth_pipeline.brokers.catalogue import credential_fields

    fields = credential_fields(schema)
    if not fields:
        return {}
    if schema.get("description"):
        click.echo(click.wrap_text(schema["description"], width=88))
    values: dict[str, Any] = {}
    properties = schema.get("properties") or {}
    for field in fields:
        spec = properties.get(field.name, {})
        if field.description:
            click.echo(f"  {field.description}")
        if field.type == "boolean":
            values[field.name] = click.confirm(field.title, default=bool(field.default))
            continue
        kind: Any = click.Choice([str(v) for v in spec["enum"]]) if "enum" in spec else None
        if field.type == "integer":
            kind = int
        label = field.title if field.required else f"{field.title} (optional, Enter to skip)"
        value = click.prompt(
            label,
            type=kind,
            hide_input=field.secret,
            default=None if field.required else "",
            show_default=False,
        )
        if value != "" or field.required:
            values[field.name] = value
    return values


def _sync_text(row: Mapping[str, Any]) -> str:
    if row["is_manual"]:
        return "-"
    if not row["sync_enabled"]:
        return "off"
    return "assisted" if row["sync_mode"] == "assisted" else "on"


@accounts.command("list")
@user_option
@exact_option
def accounts_list(username: str, exact: bool) -> None:
    """List a user's accounts with their latest balance."""
    from wealth_pipeline.accounts import AccountError, find_user, list_accounts

    with engine(readonly=True).connect() as connection:
        try:
            owner = find_user(connection, username)
        except AccountError as exc:
            raise failing(exc) from None
        rows = list_accounts(connection, owner.id)
    if not rows:
        click.echo(f"{username} has no accounts yet (wealth accounts add).")
        return
    table: list[tuple[object, ...]] = [
        ("ID", "NAME", "BROKER", "TYPE", "CURRENCY", "STATUS", "SYNC", "LATEST")
    ]
    for row in rows:
        latest = (
            f"{amount(row['latest_balance'], row['latest_currency'], exact=exact)} "
            f"on {row['latest_date']}"
            if row["latest_date"] is not None
            else "-"
        )
        table.append(
            (
                row["id"],
                row["name"],
                row["broker_code"],
                row["account_type"],
                row["currency"],
                "waiting" if row["status"] == "pending_auth" else row["status"],
                _sync_text(row),
                latest,
            )
        )
    echo_table(table)


@accounts.command("credentials")
@click.argument("account_id", type=ROW_ID)
@user_option
@password_env_option
def accounts_credentials(account_id: int, username: str, password_env: str | None) -> None:
    """Show an account's stored login, secret fields masked (needs the password)."""
    from wealth_pipeline.accounts import needs_credentials
    from wealth_pipeline.brokers.catalogue import credential_fields, mask_credentials

    with engine(readonly=True).connect() as connection:
        owner, account = owned_account(connection, username, account_id)
    schema = account["credential_schema"] or {}
    if not needs_credentials(account) or account["encrypted_credentials"] is None:
        click.echo(f"Account {account_id} ({account['broker_code']}) stores no credentials.")
        return
    from wealth_pipeline.security.vault import VaultError, decrypt_credentials

    unlocked = unlock_user(owner.username, password_env)
    try:
        credentials = decrypt_credentials(
            unlocked, account_id, bytes(account["encrypted_credentials"])
        )
    except VaultError as exc:
        raise failing(exc) from None
    shown = mask_credentials(schema, credentials)
    titles = {field.name: field.title for field in credential_fields(schema)}
    order = [name for name in titles if name in shown] + sorted(set(shown) - set(titles))
    click.echo(f"Account {account_id}: {account['name']} ({account['broker_code']})")
    rows: list[tuple[object, ...]] = []
    for name in order:
        value = shown[name]
        text = ("yes" if value else "no") if isinstance(value, bool) else value
        rows.append((f"  {titles.get(name, name)}", text))
    echo_table(rows)


@accounts.command("sync")
@click.argument("state", type=click.Choice(["on", "off"]))
@click.argument("account_id", type=ROW_ID)
@user_option
def accounts_sync(state: str, account_id: int, username: str) -> None:
    """Include an account in syncs (on) or leave it out (off)."""
    from wealth_pipeline.accounts import AccountError, find_user, set_sync

    with engine().begin() as connection:
        try:
            owner = find_user(connection, username)
            account = set_sync(connection, owner.id, account_id, state == "on")
        except AccountError as exc:
            raise failing(exc) from None
    click.echo(f"Sync {state} for account {account_id} ({account['name']}).")
    if state == "on" and account["sync_mode"] == "assisted":
        click.echo(
            f"Note: {account['broker_code']} syncs with you there (assisted): "
            f"{account['sync_note']} Sync it now with `wealth accounts auth {account_id} "
            f"--user {username}`; until then the daily run lists it as waiting."
        )


@accounts.command("remove")
@click.argument("account_id", type=ROW_ID)
@user_option
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def accounts_remove(account_id: int, username: str, yes: bool) -> None:
    """Remove an account with its snapshots and stored credentials."""
    from wealth_pipeline.accounts import (
        AccountError,
        remove_account,
        snapshot_count,
    )

    with engine(readonly=True).connect() as connection:
        owner, account = owned_account(connection, username, account_id)
        count = snapshot_count(connection, account_id)
    if not yes:
        click.confirm(
            f"Remove account {account_id} ({account['name']}, {account['broker_code']}) "
            f"with its {count} snapshot(s)?",
            abort=True,
        )
    with engine().begin() as connection:
        try:
            removed = remove_account(connection, owner.id, account_id)
        except AccountError as exc:
            raise failing(exc) from None
    click.echo(f"Removed account {account_id} ({account['name']}) and {removed} snapshot(s).")


# --- accounts test ----------------------------------------------------------------------------

FAILURE_LABELS = {
    "ConfigurationProblem": "this machine is not set up for it (no service was contacted)",
    "AuthenticationFailed": "the login was refused",
    "TwoFactorRequired": "a second factor is needed",
    "TemporarilyUnavailable": "the service is unavailable for now (try again later)",
    "MalformedAnswer": "the service's answer cannot be read",
}


def open_owned(
    username: str, account_id: int, password_env: str | None, *, today=None, with_paused=False
):
    """The user's account opened for its broker (`brokers.connection.open_account`); the
    password is asked only when the account holds credentials or saved state."""
    from wealth_pipeline.brokers.connection import OpenFailed, open_account

    settings = settings_or_usage_error()
    with engine(readonly=True).connect() as connection:
        owner, account = owned_account(connection, username, account_id)

    def ask_password(_connection, _user_id):
        return unlock_user(owner.username, password_env)

    try:
        conn = open_account(
            engine(),
            account_id,
            unlock=ask_password,
            settings=settings,
            today=today,
            user_id=owner.id,
            with_paused=with_paused,
        )
    except OpenFailed as exc:
        raise failing(exc) from None
    return account, conn


def save_state(conn, paused=None) -> None:
    """Keep the integration's session state (and a login paused again) for next time."""
    from wealth_pipeline.brokers.connection import save_sessions

    blobs = conn.session_blobs(paused)
    if blobs:
        with engine().begin() as connection:
            save_sessions(connection, conn.account_id, blobs)


@accounts.command("test")
@click.argument("account_id", type=ROW_ID)
@user_option
@password_env_option
def accounts_test(account_id: int, username: str, password_env: str | None) -> None:
    """Log in to an account's broker and show what it answers (stores only session state).

    Needs the password when the account stores credentials or session state. A second
    factor is completed interactively: app approvals are waited for, codes are asked.
    """
    from wealth_pipeline.accounts import needs_credentials
    from wealth_pipeline.brokers.base import BrokerError, NoNewData
    from wealth_pipeline.cli.second_factor import SecondFactor

    with engine(readonly=True).connect() as connection:
        _, account = owned_account(connection, username, account_id)
    if needs_credentials(account) and account["encrypted_credentials"] is None:
        raise click.ClickException(f"account {account_id} has no stored credentials")
    account, conn = open_owned(username, account_id, password_env)
    integration = conn.integration
    second = SecondFactor.for_integration(integration)

    click.echo(f"Testing account {account_id}: {account['name']} ({conn.broker_name})")
    failure: str | None = None
    done = "The connection works."
    try:
        with conn:
            report_connection(integration, conn.identifier, second)
    except NoNewData as exc:  # the service answered: not a failure of the connection
        conn.remember(*second.entered)
        done = f"No balance: {conn.scrub(str(exc))}"
    except BrokerError as exc:
        conn.remember(*second.entered)
        label = FAILURE_LABELS.get(type(exc).__name__, "the test failed")
        failure = f"{label}: {conn.scrub(str(exc))}"
    except (click.Abort, click.ClickException):
        raise
    except Exception as exc:  # a bug in an integration: its text might hold a secret
        failure = (
            f"the {conn.broker_code} integration failed unexpectedly ({type(exc).__name__}); "
            "this is a bug, please report it"
        )
    save_state(conn)
    if failure is not None:
        raise click.ClickException(failure)
    click.echo(done)


def report_connection(integration, identifier: str, second) -> None:
    """Log in, list the accounts found, the balance and positions of `identifier`."""
    from wealth_pipeline.cli.second_factor import login, run_with_second_factor

    login(integration, second)
    found = run_with_second_factor(integration.get_accounts, second)
    click.echo(f"Accounts found: {len(found)}")
    if found:
        rows: list[tuple[object, ...]] = [("  IDENTIFIER", "NAME", "TYPE", "CURRENCY")]
        rows += [(f"  {a.identifier}", a.name, a.account_type, a.currency) for a in found]
        echo_table(rows)
    if not identifier and len(found) == 1:
        identifier = found[0].identifier
        click.echo(f"This account has no identifier; testing the only one found ({identifier}).")
    balance = run_with_second_factor(lambda: integration.get_balance(identifier), second)
    text = f"Balance on {balance.balance_date.isoformat()}: {balance.balance} {balance.currency}"
    if balance.available_balance is not None:
        text += f" (available {balance.available_balance} {balance.currency})"
    click.echo(text)
    positions = run_with_second_factor(lambda: integration.get_positions(identifier), second)
    if not positions:
        click.echo("Positions: none")
        return
    click.echo(f"Positions: {len(positions)}")
    table: list[tuple[object, ...]] = [
        ("  SYMBOL", "ISIN", "NAME", "QUANTITY", "PRICE", "VALUE", "CURRENCY")
    ]
    for position in positions:
        price = "-" if position.price_per_unit is None else position.price_per_unit
        table.append(
            (
                f"  {position.symbol}",
                position.isin or "-",
                position.name,
                position.quantity,
                price,
                position.market_value,
                position.currency,
            )
        )
    echo_table(table)
