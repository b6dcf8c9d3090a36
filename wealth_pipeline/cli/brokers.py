"""`wealth brokers`: the catalogue of brokers and banks an account can be opened at."""

from __future__ import annotations

import click

from wealth_pipeline.cli.common import settings_or_usage_error
from wealth_pipeline.cli.tables import echo_table


def _yes(value: bool) -> str:
    return "yes" if value else "no"


@click.group()
def brokers() -> None:
    """The broker catalogue (brokers and banks accounts can be opened at)."""


@brokers.command("list")
@click.option("--all", "show_all", is_flag=True, help="Include brokers no longer offered.")
def brokers_list(show_all: bool) -> None:
    """List the brokers accounts can be opened at."""
    from wealth_pipeline.brokers.catalogue import ensure_catalogue, list_brokers
    from wealth_pipeline.warehouse.engine import get_engine

    with get_engine(settings_or_usage_error().database_url).begin() as connection:
        ensure_catalogue(connection)
        rows = list_brokers(connection, active_only=not show_all)
    table = [("CODE", "NAME", "TYPE", "COUNTRY", "CURRENCY", "2FA", "SYNC", "CREDENTIALS")]
    for row in rows:
        name = row["name"] + ("" if row["is_active"] else " (not offered)")
        table.append(
            (
                row["code"],
                name,
                row["integration_type"],
                row["country"] or "-",
                row["default_currency"] or "base",
                _yes(row["supports_2fa"]),
                row["sync_mode"],
                credential_summary(row["credential_schema"] or {}),
            )
        )
    echo_table(table)
    click.echo("")
    click.echo(
        click.wrap_text(
            "SYNC: unattended = the daily run logs in alone (a bank may ask for an approval now "
            "and then); assisted = every fresh login needs you (a code, a token, a photoTAN): "
            "run `wealth accounts auth ID --user U` to sync, the daily run lists the account "
            "as waiting; manual = you record balances. `wealth brokers show CODE` says why.",
            width=88,
        )
    )
    click.echo(
        "\nCURRENCY: what `accounts add` takes without --currency (base: your base currency). "
        "CREDENTIALS: the login fields of the broker's schema (* secret, asked without echo; "
        "[optional]); `wealth brokers show CODE` explains each."
    )


def credential_summary(schema: dict) -> str:
    """`username, pin*, [sms_code]`: the schema's fields in order; `-` when it has none."""
    from wealth_pipeline.brokers.catalogue import credential_fields

    names = [
        (field.name + ("*" if field.secret else "")) if field.required
        else f"[{field.name}{'*' if field.secret else ''}]"
        for field in credential_fields(schema)
    ]  # fmt: skip
    return ", ".join(names) or "-"


@brokers.command("load")
def brokers_load() -> None:
    """Load (or update) the catalogue into the warehouse; safe to repeat."""
    from wealth_pipeline.brokers.catalogue import CatalogueError, list_brokers, load_catalogue
    from wealth_pipeline.warehouse.engine import get_engine

    try:
        with get_engine(settings_or_usage_error().database_url).begin() as connection:
            changed = load_catalogue(connection)
            total = len(list_brokers(connection))
    except CatalogueError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Broker catalogue: {total} brokers, {changed} added or updated.")


@brokers.command("show")
@click.argument("code")
def brokers_show(code: str) -> None:
    """Show one broker and the credentials its accounts need."""
    from wealth_pipeline.brokers.catalogue import credential_fields, ensure_catalogue, get_broker
    from wealth_pipeline.warehouse.engine import get_engine

    settings = settings_or_usage_error()
    with get_engine(settings.database_url).begin() as connection:
        ensure_catalogue(connection)
        broker = get_broker(connection, code)
    if broker is None:
        raise click.ClickException(f"unknown broker {code!r} (see `wealth brokers list`)")
    from wealth_pipeline.settings import BROKER_URL_PREFIX

    override = settings.broker_urls.get(broker["code"])
    where = "FinTS server" if broker["integration_type"] == "fints" else "API"
    variable = f"{BROKER_URL_PREFIX}{broker['code'].upper()}"
    details = [
        ("code", broker["code"]),
        ("name", broker["name"]),
        ("integration", broker["integration_type"]),
        ("country", broker["country"] or "-"),
        ("currency", broker["default_currency"] or "your base currency"),
        ("bank identifier", broker["bank_identifier"]),
        ("FinTS server", broker["fints_server"]),
        ("API", broker["api_base_url"]),
        (f"{where} now", f"{override} (from {variable})" if override else ""),
        ("website", broker["website_url"]),
        ("2FA", _yes(broker["supports_2fa"])),
        ("sync", broker["sync_mode"]),
        ("why", broker["sync_note"]),
        ("offered", _yes(broker["is_active"])),
    ]
    for label, value in details:
        if value:
            click.echo(f"{label + ':':<17}{value}")
    schema = broker["credential_schema"] or {}
    fields = credential_fields(schema)
    click.echo("")
    if schema.get("description"):
        click.echo(click.wrap_text(schema["description"], width=88))
        click.echo("")
    if not fields:
        click.echo("Credentials: none.")
        return
    click.echo("Credentials:")
    for field in fields:
        flags = ["required" if field.required else "optional", field.type]
        if field.secret:
            flags.append("secret")
        if field.default is not None:
            flags.append(f"default {str(field.default).lower()}")
        if field.renewed:
            flags.append("asked again at each sync")
        click.echo(f"  {field.name:<19}{field.title} ({', '.join(flags)})")
        if field.description:
            click.echo(f"  {'':<19}{field.description}")
