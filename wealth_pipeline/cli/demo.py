"""`wealth demo`: a demo user with the demo broker's accounts and a year of history.

Offline: the demo broker needs no login and the rates come from the ECB file behind
WEALTH_ECB_FILE (the shipped excerpt by default). The demo's clock ends on that file's last
day, so the demo never goes stale. Safe to run again: it adds only what is missing.
"""

from __future__ import annotations

import click

from wealth_pipeline.cli.common import new_warehouse, settings_or_usage_error, vault_errors


@click.group()
def demo() -> None:
    """Try the product on made-up data (no bank login, no internet)."""


@demo.command("setup")
@click.option(
    "--days",
    type=click.IntRange(min=1),
    default=365,
    show_default=True,
    help="Days of history to fill, ending on the ECB file's last day.",
)
@click.option(
    "--password-env",
    "password_env",
    metavar="NAME",
    default=None,
    help="Read the demo user's password from environment variable NAME "
    "(default: the documented demo password 'demo-password').",
)
def demo_setup(days: int, password_env: str | None) -> None:
    """Create the user `demo` (base EUR) with the demo broker's four accounts, auto-sync on,
    and a year of history converted into EUR.

    The default password 'demo-password' guards made-up data only: never reuse it.
    """
    from wealth_pipeline.cli.common import read_password
    from wealth_pipeline.history.backfill import HistoryError
    from wealth_pipeline.history.demo import (
        DEMO_EMAIL,
        DEMO_PASSWORD,
        DEMO_USER,
        DemoError,
        setup_demo,
    )
    from wealth_pipeline.warehouse.engine import get_engine

    settings = settings_or_usage_error(needs_warehouse=False)  # the demo may start one
    password = DEMO_PASSWORD if password_env is None else read_password(password_env)
    new_warehouse(settings)
    engine = get_engine(settings.database_url)
    try:
        with vault_errors():
            report = setup_demo(engine, settings, password=password, days=days)
    except (DemoError, HistoryError, FileNotFoundError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Demo clock: {report.clock} (the ECB file's last day)")
    if report.rates_loaded:
        click.echo(f"Loaded {report.rates_loaded} exchange rates from {settings.ecb_file}.")
    state = "created" if report.created_user else "exists"
    click.echo(f"User {DEMO_USER} (id {report.user_id}): {state}")
    if report.created_user:
        where = settings.smtp_host or f"the outbox {settings.outbox_dir}"
        click.echo(f"Weekly report: on, to {DEMO_EMAIL} (delivered to {where})")
    if report.created_accounts:
        click.echo(f"Accounts created: {', '.join(report.created_accounts)}")
    if report.created_sync_key:
        click.echo(f"Sync key created at {settings.sync_key_file}")
    if report.enabled_auto_sync:
        click.echo("Auto-sync enabled for demo")
    for backfill in report.backfills:
        click.echo(f"  {backfill.describe()}")
    click.echo(f"Done: {report.snapshots_written} snapshot(s) written.")
    if report.marts is not None:
        click.echo(f"Marts: {report.marts.describe()}")
    if report.projection_added:
        click.echo(f"Projection: added {', '.join(report.projection_added)}")
