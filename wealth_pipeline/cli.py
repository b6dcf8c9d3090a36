"""The `wealth` command line: what a person does by hand."""

from __future__ import annotations

import os
import sys
from datetime import date, timedelta
from pathlib import Path

import click

from wealth_pipeline.settings import Settings, load_settings

EMBEDDED_DAGSTER_YAML = """\
# Dagster's own storage for the embedded setup (SQLite files in this folder).
# Production: see deploy/dagster.yaml in the repository (PostgreSQL storage).
telemetry:
  enabled: false
"""


def _settings() -> Settings:
    try:
        return load_settings()
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None


def ensure_dagster_home(settings: Settings) -> Path:
    """Create DAGSTER_HOME (under WEALTH_HOME by default) with a dagster.yaml, and export it."""
    home = settings.dagster_home
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text(EMBEDDED_DAGSTER_YAML)
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def _day(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date (YYYY-MM-DD)") from None


@click.group()
@click.version_option(package_name="wealth-pipeline")
def main() -> None:
    """wealth-pipeline: your whole wealth, day by day, in one currency."""


@main.command()
def init() -> None:
    """Create WEALTH_HOME, Dagster's home and the warehouse (migrated to the newest schema)."""
    from wealth_pipeline.warehouse.engine import current_revision, get_engine

    settings = _settings()
    settings.home.mkdir(parents=True, exist_ok=True)
    dagster_home = ensure_dagster_home(settings)
    engine = get_engine(settings.database_url)
    click.echo(f"WEALTH_HOME   {settings.home}")
    click.echo(f"DAGSTER_HOME  {dagster_home}")
    click.echo(
        f"warehouse     {engine.url.render_as_string(hide_password=True)} "
        f"(schema {current_revision(engine)})"
    )


@main.group()
def db() -> None:
    """The warehouse schema."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True, help="Target migration.")
def db_upgrade(revision: str) -> None:
    """Apply the warehouse migrations (WEALTH_DATABASE_URL)."""
    from wealth_pipeline.warehouse.engine import create_warehouse_engine, current_revision, upgrade

    settings = _settings()
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

    engine = create_warehouse_engine(_settings().database_url)
    current, head = current_revision(engine), head_revision()
    click.echo(f"current {current or 'none (empty database)'}, newest {head}")
    engine.dispose()
    if current != head:
        sys.exit(1)


@main.group()
def fx() -> None:
    """Exchange rates."""


@fx.command("backfill")
@click.option("--start", help="First day (YYYY-MM-DD); default: the ECB file's first day.")
@click.option("--end", help="Last day (YYYY-MM-DD); default: the ECB file's last day.")
@click.option("--missing-only", is_flag=True, help="Skip days already materialized.")
def fx_backfill(start: str | None, end: str | None, missing_only: bool) -> None:
    """Materialize exchange_rates for a range as one Dagster run, recorded in DAGSTER_HOME."""
    import dagster as dg

    from wealth_pipeline.definitions import rates_source, resources
    from wealth_pipeline.fx.assets import exchange_rates

    settings = _settings()
    ensure_dagster_home(settings)
    first, last = _day(start), _day(end)
    if first is None or last is None:
        if settings.fx_source != "ecb_file":
            raise click.UsageError("--start and --end are required with the Frankfurter source")
        days = sorted(rates_source(settings).fetch(date(1999, 1, 4), date.today()).days)
        if not days:
            raise click.ClickException(f"{settings.ecb_file} holds no rates")
        first, last = first or days[0], last or days[-1]
    if first > last:
        raise click.UsageError(f"--start {first} is after --end {last}")
    instance = dg.DagsterInstance.get()
    wanted = [(first + timedelta(days=i)).isoformat() for i in range((last - first).days + 1)]
    if missing_only:
        done = instance.get_materialized_partitions(exchange_rates.key)
        wanted = [key for key in wanted if key not in done]
        if not wanted:
            click.echo(f"exchange_rates {first} .. {last}: already materialized")
            return
    click.echo(f"Materializing exchange_rates {wanted[0]} .. {wanted[-1]} as one run ...")
    result = dg.materialize(
        [exchange_rates],
        instance=instance,
        resources=resources(settings),
        tags={
            "dagster/asset_partition_range_start": wanted[0],
            "dagster/asset_partition_range_end": wanted[-1],
        },
        run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
        raise_on_error=False,
    )
    if not result.success:
        failures = [
            event.event_specific_data.error.message.strip()  # type: ignore[union-attr]
            for event in result.all_events
            if event.is_step_failure
        ]
        raise click.ClickException("; ".join(failures) or "the run failed")
    click.echo(f"Done: run {result.run_id}")


@fx.command("rate")
@click.argument("from_currency")
@click.argument("to_currency")
@click.option("--date", "day", help="Day (YYYY-MM-DD); default: today.")
@click.option("--amount", help="Convert this amount too.")
def fx_rate(from_currency: str, to_currency: str, day: str | None, amount: str | None) -> None:
    """Show the rate for a pair on a day, as every conversion in the product computes it."""
    from wealth_pipeline import money
    from wealth_pipeline.fx.lookup import rate
    from wealth_pipeline.warehouse.engine import get_engine

    when = _day(day) or date.today()
    with get_engine(_settings().database_url, readonly=True).connect() as connection:
        found = rate(connection, from_currency, to_currency, when)
    if not found:
        raise click.ClickException(found.reason)  # type: ignore[union-attr]
    click.echo(
        f"1 {found.from_currency} = {found.rate} {found.to_currency} "
        f"on {when} (ECB rates of {found.rate_date})"
    )
    if amount is not None:
        try:
            value = money.to_decimal(amount)
        except (TypeError, ValueError) as exc:
            raise click.BadParameter(str(exc), param_hint="--amount") from None
        click.echo(f"{value} {found.from_currency} = {found.convert(value)} {found.to_currency}")
