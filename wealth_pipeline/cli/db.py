"""`wealth db`: the warehouse schema."""

from __future__ import annotations

import sys

import click

from wealth_pipeline.cli.common import settings_or_usage_error


@click.group()
def db() -> None:
    """The warehouse schema."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True, help="Target migration.")
def db_upgrade(revision: str) -> None:
    """Apply the warehouse migrations (WEALTH_DATABASE_URL)."""
    from wealth_pipeline.warehouse.engine import create_warehouse_engine, current_revision, upgrade

    settings = settings_or_usage_error(needs_warehouse=False)
    engine = create_warehouse_engine(settings.database_url)
    before = current_revision(engine)
    after = upgrade(engine, revision)
    where = engine.url.render_as_string(hide_password=True)
    if before == after:
        click.echo(f"{where}: already at {after}")
    else:
        click.echo(f"{where}: upgraded {before or 'empty'} -> {after}")
    engine.dispose()


@db.command("current")
def db_current() -> None:
    """Show the warehouse's schema revision and the newest one."""
    from wealth_pipeline.warehouse.engine import (
        create_warehouse_engine,
        current_revision,
        head_revision,
    )

    engine = create_warehouse_engine(settings_or_usage_error().database_url)
    current, head = current_revision(engine), head_revision()
    click.echo(f"current {current or 'none (empty database)'}, newest {head}")
    engine.dispose()
    if current != head:
        sys.exit(1)
