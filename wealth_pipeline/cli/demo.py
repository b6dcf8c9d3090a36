"""`wealth demo`: a demo user with the demo broker's accounts and a year of history.

The demo broker needs no login; rates come from the configured source (the shipped excerpt,
then Frankfurter for later days unless WEALTH_OFFLINE). The demo's clock is today when a rate
converts today, else the last day with rates. Safe to run again: it adds only what is
missing. What it wrote is recorded in Dagster, so the UI shows it materialized.
"""

from __future__ import annotations

import click

from wealth_pipeline.cli.common import (
    days_option,
    new_warehouse,
    settings_or_usage_error,
    vault_errors,
)


@click.group()
def demo() -> None:
    """Try the product on made-up data (no bank login, no internet)."""


def setup_options(function):
    """--days and --password-env, shared by `setup` and `reset`."""
    function = click.option(
        "--password-env",
        "password_env",
        metavar="NAME",
        default=None,
        help="Read the demo user's password from environment variable NAME "
        "(default: the documented demo password 'demo-password').",
    )(function)
    return days_option(
        "Days of history to fill, ending on the demo's clock (today when a rate converts it, "
        "else the last day with rates)."
    )(function)


@demo.command("setup")
@setup_options
def demo_setup(days: int, password_env: str | None) -> None:
    """Create the user `demo` (base EUR) with the demo broker's four accounts, auto-sync on,
    and a year of history converted into EUR.

    The default password 'demo-password' guards made-up data only: never reuse it.
    """
    run_setup(days, password_env, "wealth demo setup")


@demo.command("reset")
@setup_options
def demo_reset(days: int, password_env: str | None) -> None:
    """Put the demo back as `scripts/dev up` made it: delete the user `demo` with all their
    accounts, snapshots and marts, then set it up again. Other users are not touched."""
    from wealth_pipeline.history.demo import remove_demo_user
    from wealth_pipeline.warehouse.engine import get_engine

    settings = settings_or_usage_error()
    if remove_demo_user(get_engine(settings.database_url)):
        click.echo("Removed the user demo with their accounts, snapshots and marts.")
    run_setup(days, password_env, "wealth demo reset")


def run_setup(days: int, password_env: str | None, command: str) -> None:
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
    from wealth_pipeline.cli import record

    if report.rates is not None:
        click.echo(f"Loaded {report.rates_loaded} exchange rates from {report.rates.source}.")
        record.record(settings, command, record.RATES_ASSET, report.rates.partitions())
        if report.rates.skipped():
            click.echo(f"Rates: {report.rates.skipped()}")
    click.echo(f"Demo clock: {report.clock} (the latest day a rate converts)")
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
    if report.snapshots_written and report.backfills:
        from wealth_pipeline.history.demo import flow_days, snapshot_days

        first = min(backfill.start for backfill in report.backfills)
        days_written = snapshot_days(engine, report.user_id, first, report.clock)
        record.snapshot_days(settings, command, days_written, len(report.backfills))
        flows = flow_days(engine, report.user_id, first, report.clock)
        record.snapshot_days(settings, command, flows, len(report.backfills), record.FLOWS_ASSET)
    if report.marts is not None:
        click.echo(f"Marts: {report.marts.describe()}")
        if report.marts.rows:
            record.marts(settings, command, report.marts.rows, report.marts.summary())
    if report.projection_added:
        click.echo(f"Projection: added {', '.join(report.projection_added)}")
