"""The `wealth` command line: what a person does by hand.

Each command group lives in its own module of this package and is registered below.
"""

from __future__ import annotations

import click

from wealth_pipeline.cli import (
    accounts,
    api,
    auth,  # noqa: F401  (registers `wealth accounts auth`)
    brokers,
    conversions,
    dashboard,
    db,
    demo,
    flows,
    fx,
    history,
    imports,
    keys,
    marts,
    projection,
    report,
    snapshots,
    summary,
    users,
)
from wealth_pipeline.cli.common import WealthGroup, ensure_dagster_home, settings_or_usage_error


@click.group(cls=WealthGroup)
@click.version_option(package_name="wealth-pipeline")
def main() -> None:
    """wealth-pipeline: your whole wealth, day by day, in one currency."""


@main.command()
def init() -> None:
    """Create WEALTH_HOME, Dagster's home and the warehouse (migrated to the newest schema)."""
    from wealth_pipeline.files import private_folder
    from wealth_pipeline.warehouse.engine import current_revision, get_engine

    settings = settings_or_usage_error(needs_warehouse=False)
    private_folder(settings.home)
    dagster_home = ensure_dagster_home(settings)
    engine = get_engine(settings.database_url)
    click.echo(f"WEALTH_HOME   {settings.home}")
    click.echo(f"DAGSTER_HOME  {dagster_home}")
    click.echo(
        f"warehouse     {engine.url.render_as_string(hide_password=True)} "
        f"(schema {current_revision(engine)})"
    )


main.add_command(db.db)
main.add_command(fx.fx)
main.add_command(flows.flows)
main.add_command(brokers.brokers)
main.add_command(summary.summary)
main.add_command(accounts.accounts)
main.add_command(snapshots.snapshots)
main.add_command(imports.import_group)
main.add_command(keys.keys)
main.add_command(users.users)
main.add_command(conversions.conversions)
main.add_command(demo.demo)
main.add_command(marts.marts)
main.add_command(report.report)
main.add_command(api.api)
main.add_command(dashboard.dashboard)
main.add_command(projection.projection)
main.add_command(projection.goals)
accounts.accounts.add_command(history.accounts_backfill)
