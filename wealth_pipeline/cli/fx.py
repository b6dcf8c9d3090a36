"""`wealth fx`: exchange rates."""

from __future__ import annotations

from datetime import date, timedelta
from typing import TYPE_CHECKING

import click

from wealth_pipeline import clock
from wealth_pipeline.cli.common import ensure_dagster_home, parse_day, settings_or_usage_error

if TYPE_CHECKING:  # Dagster loads on use: the command line starts fast
    from dagster._core.execution.plan.objects import StepFailureData


@click.group()
def fx() -> None:
    """Exchange rates."""


def failure_message(failure: StepFailureData) -> str:
    """What went wrong, as the asset said it (a `Failure`'s description) or the error."""
    told = failure.user_failure_data
    if told is not None and told.description:
        return told.description.strip()
    return failure.error.message.strip() if failure.error else "the step failed"


@fx.command("backfill")
@click.option("--start", help="First day (YYYY-MM-DD); default: the ECB file's first day.")
@click.option(
    "--end", help="Last day (YYYY-MM-DD); default: today (the ECB file's last day for a file)."
)
@click.option("--missing-only", is_flag=True, help="Skip days already materialized.")
def fx_backfill(start: str | None, end: str | None, missing_only: bool) -> None:
    """Materialize exchange_rates for a range as one run of exchange_rates_job, recorded in
    DAGSTER_HOME (each day with its own rows; days without rates are skipped, saying why)."""
    import dagster as dg

    from wealth_pipeline.fx.assets import exchange_rates, exchange_rates_job
    from wealth_pipeline.fx.sources import EcbFileRates
    from wealth_pipeline.resources import resources

    settings = settings_or_usage_error()
    ensure_dagster_home(settings)
    first, last = parse_day(start), parse_day(end)
    if first is None or last is None:
        if settings.fx_source == "frankfurter":
            raise click.UsageError("--start and --end are required with the Frankfurter source")
        # The file's own span (the default source's excerpt; never a live request for it).
        published = EcbFileRates(location=settings.ecb_file).fetch(date.max, date.max)
        if published.earliest_day is None or published.latest_day is None:
            raise click.ClickException(f"{settings.ecb_file} holds no rates")
        today = clock.today()
        first = first or published.earliest_day
        last = last or (today if settings.fx_source == "auto" else published.latest_day)
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
    # The job's name (as the UI shows it), without its op retries: those wait for a late ECB
    # for hours, while a person at the terminal wants the reason now.
    job = dg.Definitions(
        assets=[exchange_rates],
        jobs=[dg.define_asset_job(exchange_rates_job.name, selection=[exchange_rates])],
        resources=resources(settings),
    ).resolve_job_def(exchange_rates_job.name)
    result = job.execute_in_process(
        instance=instance,
        tags={
            "dagster/asset_partition_range_start": wanted[0],
            "dagster/asset_partition_range_end": wanted[-1],
        },
        # Failures are told below in one line each, not as Dagster's event log with stacks.
        run_config={"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}},
        raise_on_error=False,
    )
    if not result.success:
        failures = [
            failure_message(event.event_specific_data)
            for event in result.all_events
            if event.is_step_failure
        ]
        raise click.ClickException("; ".join(failures) or "the run failed")
    written = len(result.get_asset_materialization_events())
    click.echo(f"Done: run {result.run_id} of {exchange_rates_job.name}, {written} day(s) recorded")
    reasons = {
        event.event_specific_data.asset_observation.metadata["skipped"].value
        for event in result.all_events
        if event.event_type_value == "ASSET_OBSERVATION"
    }
    for reason in sorted(reasons):
        click.echo(f"Skipped: {reason}")


@fx.command("rate")
@click.argument("from_currency")
@click.argument("to_currency")
@click.option(
    "--date", "day", help="Day (YYYY-MM-DD); default: the latest ECB day stored (as the API)."
)
@click.option("--amount", help="Convert this amount too.")
def fx_rate(from_currency: str, to_currency: str, day: str | None, amount: str | None) -> None:
    """Show the rate for a pair on a day, as every conversion in the product computes it."""
    from wealth_pipeline import money
    from wealth_pipeline.fx.lookup import default_day, rate
    from wealth_pipeline.warehouse.engine import get_engine

    with get_engine(settings_or_usage_error().database_url, readonly=True).connect() as connection:
        when = parse_day(day) or default_day(connection)
        if when is None:
            raise click.ClickException(
                "no exchange rates are stored yet: run `wealth fx backfill` (or materialize "
                "exchange_rates in the UI)"
            )
        found = rate(connection, from_currency, to_currency, when)
    if not found:
        raise click.ClickException(found.reason)
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
