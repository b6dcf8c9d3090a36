"""The `exchange_rates` asset: ECB reference rates per day, written window by window."""

from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta

import dagster as dg
from sqlalchemy import Engine

from wealth_pipeline import clock
from wealth_pipeline.clock import TIMEZONE
from wealth_pipeline.fx.calendar import no_publication_reason
from wealth_pipeline.fx.published import PublishedRates
from wealth_pipeline.fx.sources import RatesSource, shipped_excerpt_end
from wealth_pipeline.fx.store import replace_rates
from wealth_pipeline.partitions import daily_partitions
from wealth_pipeline.settings import Settings, load_settings
from wealth_pipeline.warehouse.engine import WarehouseUnavailable
from wealth_pipeline.warehouse.resource import WarehouseResource

REFRESH_DAYS = 7
LISTED_QUIET_DAYS = 20
REFRESH_CRON = "30 16 * * *"  # after the ECB publishes (~16:00 CET)
# Runs that write rates take a slot of this pool: two windows never fetch at once
# (`dagster instance concurrency set ecb_rates 1` in production, see the README).
POOL = "ecb_rates"
# Whole-run retries (after a crashed run worker; op failures have the op retry policy):
# safe here, a run replaces its window in one transaction.
RUN_RETRIES = 2


@dataclass(frozen=True)
class DayOutcomes:
    published: list[date]
    quiet: dict[date, str]  # day -> why the ECB published nothing
    missing: list[date]  # business days without rates: not published yet, or source lagging


def classify_days(days: list[date], published: PublishedRates) -> DayOutcomes:
    """Tell, per day, whether rates were published, the ECB was closed, or rates are missing.

    A business day without rates between two days the source has is a real non-publication
    day (the ECB moved on without it). Outside the source's span only weekends and TARGET
    holidays are expected quiet: a business day after it is not published yet, and one before
    it is simply not covered by the source (a file excerpt that starts later).
    """
    earliest, latest = published.earliest_day, published.latest_day
    outcomes = DayOutcomes([], {}, [])
    for day in sorted(days):
        if day in published.days:
            outcomes.published.append(day)
            continue
        reason = no_publication_reason(day)
        covered = earliest is not None and latest is not None and earliest < day < latest
        if reason is None and covered:
            reason = "no ECB publication that day"
        if reason is None:
            outcomes.missing.append(day)
        else:
            outcomes.quiet[day] = reason
    return outcomes


def missing_message(outcomes: DayOutcomes, published: PublishedRates, source: str) -> str:
    """One sentence: which days have no rates, where rates stop, and how to get more."""
    days = ", ".join(d.isoformat() for d in outcomes.missing[:10])
    more = f" and {len(outcomes.missing) - 10} more" if len(outcomes.missing) > 10 else ""
    earliest, latest = published.earliest_day, published.latest_day
    if earliest is not None and outcomes.missing[-1] < earliest:
        return (
            f"No ECB rates for TARGET business day(s) {days}{more}: {source} starts at "
            f"{earliest.isoformat()}. Use a source that covers them."
        )
    if published.unreachable:
        return f"No rates for {days}{more}. {published.unreachable}"
    return (
        f"No ECB rates yet for TARGET business day(s) {days}{more} from {source} "
        f"(its latest day is {latest.isoformat() if latest else 'none'}). The ECB publishes "
        "around 16:00 CET; the evening refresh fetches them."
    )


def day_metadata(day: date, outcomes: DayOutcomes, published: PublishedRates, source: str) -> dict:
    """What one partition holds: its own rows and currencies (never the run's totals)."""
    rates = published.days.get(day, {})
    metadata: dict = {
        "dagster/row_count": len(rates),
        "source": source,
        "currency_count": len(rates),
        "currencies": dg.MetadataValue.text(", ".join(sorted(rates)) or "none"),
    }
    if day in outcomes.quiet:
        metadata["no_publication"] = (
            f"The ECB published nothing on: {day.isoformat()} ({outcomes.quiet[day]})"
        )
    return metadata


def outcome_metadata(
    outcomes: DayOutcomes, published: PublishedRates, rows: int, source: str
) -> dict:
    """The run's totals (logged once per run, not stored on every partition)."""
    quiet = [f"{day.isoformat()} ({why})" for day, why in sorted(outcomes.quiet.items())]
    listed = "; ".join(quiet[:LISTED_QUIET_DAYS])
    if len(quiet) > LISTED_QUIET_DAYS:
        listed += f"; and {len(quiet) - LISTED_QUIET_DAYS} more"
    metadata: dict = {
        "rows": rows,
        "source": source,
        "requests": published.requests,
        "currency_count": len(published.currencies),
        "days_published": len(outcomes.published),
        "days_without_publication": len(outcomes.quiet),
        "days_skipped": len(outcomes.missing),
        "window": f"{published.start.isoformat()} .. {published.end.isoformat()}",
    }
    if quiet:
        metadata["no_publication"] = f"The ECB published nothing on: {listed}"
    return metadata


@dataclass(frozen=True)
class Refresh:
    """What one refresh of a window of days did."""

    outcomes: DayOutcomes
    published: PublishedRates
    rows: int
    source: str

    def partitions(self) -> dict[str, dict]:
        """Each day written (published or quiet) with its own metadata."""
        outcomes = self.outcomes
        return {
            day.isoformat(): day_metadata(day, outcomes, self.published, self.source)
            for day in sorted([*outcomes.published, *outcomes.quiet])
        }

    def skipped(self) -> str | None:
        if not self.outcomes.missing:
            return None
        return missing_message(self.outcomes, self.published, self.source)


def refresh_rates(engine: Engine, fx_source: RatesSource, days: list[date]) -> Refresh:
    """Fetch `days` from the source and replace them in one transaction (skipped days kept)."""
    source = fx_source.describe()
    published = fx_source.fetch(min(days), max(days))
    outcomes = classify_days(days, published)
    window = writable(outcomes, published)
    rows = 0
    if window is not None:
        with engine.begin() as connection:
            rows = replace_rates(connection, window)
    return Refresh(outcomes, published, rows, source)


def writable(outcomes: DayOutcomes, published: PublishedRates) -> PublishedRates | None:
    """The window to replace: the days not skipped (None: nothing to write).

    Skipped days lie outside the source's span (before it starts, after its latest day), so
    they are at the window's ends; rows already stored for them are kept, never deleted.
    """
    done = sorted([*outcomes.published, *outcomes.quiet])
    if not done:
        return None
    return replace(published, start=done[0], end=done[-1])


@dg.asset(
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    group_name="fx",
    kinds={"python", "sql"},
    description=(
        "ECB euro reference rates, as published (1 EUR = rate quote currency), one row per "
        "currency and ECB business day. Weekends and TARGET holidays succeed empty; a business "
        "day not yet published fails so it is retried. A run replaces its whole window in one "
        "transaction: re-running is idempotent and a failure writes nothing."
    ),
    tags={"domain": "fx"},
    pool=POOL,
    # Each day is recorded with its own rows and currencies; a day without rates yet (or
    # without a network) is skipped with its reason, neither materialized nor failed.
    output_required=False,
)
def exchange_rates(
    context: dg.AssetExecutionContext, fx_source: RatesSource, warehouse: WarehouseResource
) -> Iterator[dg.AssetObservation]:
    days = [date.fromisoformat(key) for key in context.partition_keys]
    context.log.info(f"Fetching ECB rates {min(days)} .. {max(days)} from {fx_source.describe()}")
    try:
        done = refresh_rates(warehouse.engine(), fx_source, days)
    except WarehouseUnavailable as unavailable:  # read-only, locked, cut off: say so plainly
        raise dg.Failure(description=str(unavailable)) from None
    for key, metadata in done.partitions().items():
        context.log_event(
            dg.AssetMaterialization(asset_key=context.asset_key, partition=key, metadata=metadata)
        )
    outcomes = done.outcomes
    context.log.info(
        f"Wrote {done.rows} rates for {len(outcomes.published)} ECB days; "
        f"{len(outcomes.quiet)} days without publication; {len(outcomes.missing)} skipped"
    )
    reason = done.skipped()
    if reason:
        context.log.warning(f"Skipped: {reason}")
        for day in outcomes.missing[-LISTED_QUIET_DAYS:]:  # the latest ones (the UI's "Latest")
            yield dg.AssetObservation(
                asset_key=context.asset_key, partition=day.isoformat(), metadata={"skipped": reason}
            )
    totals = outcome_metadata(outcomes, done.published, done.rows, done.source)
    context.log.info(f"Run totals: {totals}")


exchange_rates_job = dg.define_asset_job(
    "exchange_rates_job",
    selection=[exchange_rates],
    description="Refresh ECB rates for a window of days (retried while the ECB is late).",
    tags={"dagster/max_retries": str(RUN_RETRIES)},
    # The ECB is sometimes late: try again a few times, spread out, before giving up.
    op_retry_policy=dg.RetryPolicy(
        max_retries=4, delay=900, backoff=dg.Backoff.LINEAR, jitter=dg.Jitter.PLUS_MINUS
    ),
)


def refresh_window(execution_time: datetime) -> tuple[str, str]:
    """The last REFRESH_DAYS partitions up to the Berlin day of `execution_time`."""
    today = clock.day_of(execution_time)
    return (today - timedelta(days=REFRESH_DAYS - 1)).isoformat(), today.isoformat()


def build_exchange_rates_schedule(
    running: bool, cron_schedule: str = REFRESH_CRON, settings: Settings | None = None
) -> dg.ScheduleDefinition:
    """The refresh at `cron_schedule` (Berlin time; `WEALTH_FX_REFRESH_CRON`).

    `settings` (default: read now) are the definitions' own: the schedule decides with the
    same rate source the `fx_source` resource shows, never with settings read again later.
    """
    settings = settings or load_settings()

    @dg.schedule(
        name="exchange_rates_daily",
        job=exchange_rates_job,
        cron_schedule=cron_schedule,
        execution_timezone=TIMEZONE,
        description=(
            f"After the ECB publishes (~16:00 CET), refresh the last {REFRESH_DAYS} days of "
            "rates in one run (late corrections included)."
        ),
        default_status=(
            dg.DefaultScheduleStatus.RUNNING if running else dg.DefaultScheduleStatus.STOPPED
        ),
    )
    def exchange_rates_daily(
        context: dg.ScheduleEvaluationContext,
    ) -> dg.RunRequest | dg.SkipReason:
        first, last = refresh_window(context.scheduled_execution_time)
        static_end = shipped_excerpt_end(settings)
        if static_end is not None and last > static_end.isoformat():
            if first > static_end.isoformat():
                return dg.SkipReason(
                    f"The rate source is the ECB excerpt shipped in the package, which ends on "
                    f"{static_end.isoformat()}: it has no rates for {first}..{last}, so there "
                    "is nothing to refresh. With a live source (WEALTH_FX_SOURCE=frankfurter, "
                    "or WEALTH_ECB_FILE set to the ECB's eurofxref-hist.zip) this schedule "
                    f"refreshes the last {REFRESH_DAYS} days every evening."
                )
            last = static_end.isoformat()  # only the days the excerpt can have
        return dg.RunRequest(
            run_key=f"exchange_rates:{first}..{last}",
            tags={
                "dagster/asset_partition_range_start": first,
                "dagster/asset_partition_range_end": last,
            },
        )

    return exchange_rates_daily
