"""The daily sync in Dagster: one multi-asset writing `account_balances` and
`account_positions`, its job, schedule and checks.

The two assets are the facts as received from the brokers (and manual entries): a balance
and its positions arrive together in one account-day transaction, so one op writes both.
A materialized day partition means that day's sync ran for every due account; per-account
results live in `account_sync_state` and show in the run's metadata and the checks. A run
never fails for one account's failure; re-running a day syncs only what is not yet written.
The base-currency amounts are `converted_snapshots`' (conversions/assets.py).
"""

import warnings
from collections.abc import Iterator
from dataclasses import replace
from datetime import date, datetime
from pathlib import Path

import dagster as dg

from wealth_pipeline import clock
from wealth_pipeline.clock import TIMEZONE
from wealth_pipeline.fx.sources import shipped_excerpt_end
from wealth_pipeline.partitions import daily_partitions
from wealth_pipeline.settings import Settings, load_settings
from wealth_pipeline.sync import checks
from wealth_pipeline.sync.account import Outcome
from wealth_pipeline.sync.demo_guard import rates_stop_sentence
from wealth_pipeline.sync.notify import notify_pending_auth
from wealth_pipeline.sync.runner import SyncReport, run_sync
from wealth_pipeline.warehouse.resource import WarehouseResource

LISTED_OUTCOMES = 50  # accounts listed per kind in the metadata (counts are always complete)
SYNC_HOUR, SYNC_MINUTE = 17, 30  # after the ECB publishes (~16:00 CET) and the FX refresh


class SyncResource(dg.ConfigurableResource):
    """Every setting the sync runs with: the worker's sync key, how many accounts it syncs
    at once, and the integrations' network settings (timeouts, retries, FinTS product id,
    2FA wait).

    The definitions fill each field from their settings (`sync_resource`), so the resource
    configuration the UI shows is what the run uses. A field left unset (a resource made by
    hand, in tests) falls back to the environment's `WEALTH_*` setting; so do the mail
    settings for approval notices, which are the `mail` resource's.
    """

    sync_key_file: str | None = None
    max_workers: int | None = None
    max_per_broker: int | None = None
    http_timeout_seconds: float | None = None
    http_max_attempts: int | None = None
    http_backoff_seconds: float | None = None
    fints_product_id: str | None = None
    two_fa_wait_seconds: float | None = None

    def settings(self) -> Settings:
        settings = load_settings()

        def chosen(value, default):
            return default if value is None else value

        return replace(
            settings,
            sync_key_file=Path(chosen(self.sync_key_file, settings.sync_key_file)),
            sync_max_workers=chosen(self.max_workers, settings.sync_max_workers),
            sync_max_per_broker=chosen(self.max_per_broker, settings.sync_max_per_broker),
            http_timeout_seconds=chosen(self.http_timeout_seconds, settings.http_timeout_seconds),
            http_max_attempts=chosen(self.http_max_attempts, settings.http_max_attempts),
            http_backoff_seconds=chosen(self.http_backoff_seconds, settings.http_backoff_seconds),
            fints_product_id=chosen(self.fints_product_id, settings.fints_product_id),
            two_fa_wait_seconds=chosen(self.two_fa_wait_seconds, settings.two_fa_wait_seconds),
        )


def sync_resource(settings: Settings) -> SyncResource:
    """The sync resource of the definitions: every field from `settings`, shown in the UI."""
    return SyncResource(
        sync_key_file=str(settings.sync_key_file),
        max_workers=settings.sync_max_workers,
        max_per_broker=settings.sync_max_per_broker,
        http_timeout_seconds=settings.http_timeout_seconds,
        http_max_attempts=settings.http_max_attempts,
        http_backoff_seconds=settings.http_backoff_seconds,
        fints_product_id=settings.fints_product_id,
        two_fa_wait_seconds=settings.two_fa_wait_seconds,
    )


def listed(outcomes: list[Outcome]) -> dg.MetadataValue:
    """A table of accounts (id, broker, reason) for the run's metadata."""
    lines = ["| account | broker | reason |", "|---|---|---|"]
    for outcome in outcomes[:LISTED_OUTCOMES]:
        reason = (outcome.reason or "").replace("|", "/").replace("\n", " ")
        lines.append(f"| {outcome.account_id} | {outcome.broker_code} | {reason} |")
    if len(outcomes) > LISTED_OUTCOMES:
        lines.append(f"| ... | | and {len(outcomes) - LISTED_OUTCOMES} more |")
    return dg.MetadataValue.md("\n".join(lines))


def report_metadata(reports: list[SyncReport]) -> dict:
    outcomes = [o for report in reports for o in report.outcomes]
    merged = SyncReport(day=reports[0].day, run_id=reports[0].run_id, outcomes=outcomes)
    metadata: dict = {
        "dagster/row_count": merged.rows,
        "days": ", ".join(r.day.isoformat() for r in reports),
        "accounts_due": len(outcomes),
        "accounts_synced": len(merged.synced),
        "accounts_failed": len(merged.failed),
        "accounts_pending_auth": len(merged.pending_auth),
        "accounts_skipped": len(merged.skipped),
        "rows_written": merged.rows,
    }
    for name, kind in (
        ("failed", merged.failed),
        ("pending_auth", merged.pending_auth),
        ("skipped", merged.skipped),
    ):
        if kind:
            metadata[name] = listed(kind)
    return metadata


BALANCES = dg.AssetKey("account_balances")
POSITIONS = dg.AssetKey("account_positions")
_FACTS = (
    " as received (never changed by a conversion); the partition is the snapshot date. "
    "Written by the daily sync of every due account (active or in error, sync-enabled, at a "
    "broker that syncs unattended or assisted, owner with auto-sync on), by manual entries "
    "and by imports; manual and imported snapshots are never overwritten by a sync."
)


@dg.multi_asset(
    name="sync_accounts",
    specs=[
        dg.AssetSpec(
            BALANCES,
            group_name="sync",
            kinds={"python", "sql"},
            tags={"domain": "sync"},
            description="Each account's balance per day in its own currency" + _FACTS,
        ),
        dg.AssetSpec(
            POSITIONS,
            group_name="sync",
            kinds={"python", "sql"},
            tags={"domain": "sync"},
            description="Each account's positions (symbol, quantity, price, market value in "
            "the position's currency) per day" + _FACTS,
        ),
    ],
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    can_subset=False,
    description=(
        "Sync every due account for the days: balances and positions in one transaction per "
        "account and day. One account's failure never fails the run: it is listed with its "
        "reason. An assisted broker is never logged in afresh: a live session is reused, "
        "otherwise the account waits for its owner (pending_auth, listed with its last data "
        "day and `wealth accounts auth`), as does one whose bank asks for an approval; "
        "waiting is not failing. Re-running a day syncs only accounts not yet written, and "
        "never one whose login was refused."
    ),
)
def sync_accounts(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, sync: SyncResource
) -> Iterator[dg.MaterializeResult]:
    settings = sync.settings()
    engine = warehouse.engine()
    reports = []
    for key in sorted(context.partition_keys):
        day = date.fromisoformat(key)
        report = run_sync(engine, day, settings=settings, run_id=context.run.run_id)
        reports.append(report)
        context.log.info(
            f"{day}: {len(report.outcomes)} due, {len(report.synced)} synced, "
            f"{len(report.failed)} failed, {len(report.pending_auth)} waiting for their owner, "
            f"{len(report.skipped)} skipped; {report.rows} rows"
        )
        for outcome in report.failed:
            context.log.warning(f"{day}: {outcome.describe()}")
        for outcome in report.pending_auth:
            context.log.warning(
                f"{day}: account {outcome.account_id} ({outcome.broker_code}) waits for its "
                f"owner (not failed): {outcome.reason}"
            )
    metadata = report_metadata(reports)
    paused = [o for report in reports for o in report.pending_auth]
    if paused:
        notices = notify_pending_auth(
            engine, paused, [r.day for r in reports if r.pending_auth], settings
        )
        metadata["pending_auth_mail"] = notices.summary()
        log = context.log.warning if notices.failed else context.log.info
        log(f"approval notices: {notices.summary()}")
    yield dg.MaterializeResult(asset_key=BALANCES, metadata=metadata)
    yield dg.MaterializeResult(asset_key=POSITIONS, metadata={"days": metadata["days"]})


# --- checks ----------------------------------------------------------------------------------

# Partitioned asset checks are "preview" in Dagster 1.13; they are how a check sees its day.
warnings.filterwarnings("ignore", category=dg.PreviewWarning, message=".*AssetCheckSpec.*")


def check_days(context: dg.AssetCheckExecutionContext) -> list[date]:
    return sorted(date.fromisoformat(key) for key in context.partition_keys)


def listed_findings(findings: list[checks.Finding]) -> dg.MetadataValue:
    text = "\n".join(
        f"- account {f.account_id} on {f.day.isoformat()}: {f.detail}" for f in findings[:50]
    )
    return dg.MetadataValue.md(text or "none")


def check_result(
    findings: list[checks.Finding],
    severity: dg.AssetCheckSeverity,
    what: str,
    extra: dict | None = None,
) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        passed=not findings,
        severity=severity,
        metadata={"count": len(findings), what: listed_findings(findings), **(extra or {})},
    )


@dg.asset_check(
    asset=BALANCES,
    partitions_def=daily_partitions,
    description="At most one snapshot per account and day.",
)
def no_duplicate_snapshots(
    context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource
) -> dg.AssetCheckResult:
    with warehouse.engine().connect() as connection:
        found = checks.duplicate_snapshots(connection, check_days(context))
    return check_result(found, dg.AssetCheckSeverity.ERROR, "duplicates")


@dg.asset_check(
    asset=BALANCES,
    partitions_def=daily_partitions,
    description=(
        f"No balance moved by more than {checks.DAY_OVER_DAY_THRESHOLD:%} since the account's "
        "previous snapshot (a warning: likely a sync error)."
    ),
)
def day_over_day_change(
    context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource
) -> dg.AssetCheckResult:
    with warehouse.engine().connect() as connection:
        found = checks.large_changes(connection, check_days(context))
    return check_result(found, dg.AssetCheckSeverity.WARN, "changes")


@dg.asset_check(
    asset=BALANCES,
    partitions_def=daily_partitions,
    description="Every auto-synced account was synced within its user's sync frequency.",
)
def accounts_synced_in_time(
    context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource
) -> dg.AssetCheckResult:
    with warehouse.engine().connect() as connection:
        found = checks.stale_accounts(connection)
    return check_result(found, dg.AssetCheckSeverity.WARN, "stale")


sync_checks = [no_duplicate_snapshots, day_over_day_change, accounts_synced_in_time]

# --- job and schedule ------------------------------------------------------------------------

daily_sync_job = dg.define_asset_job(
    "daily_sync_job",
    # The sync writes the day's cash flows too: `account_cash_flows` pairs them, and
    # `converted_snapshots` derives the day's base-currency amounts, in the same run.
    selection=dg.AssetSelection.assets(
        BALANCES, POSITIONS, "account_cash_flows", "converted_snapshots"
    ),
    description=(
        "Sync every due account for one day, then convert it (never retried as a whole: a "
        "re-run syncs only accounts not yet written that day)."
    ),
    # One sync run at a time (deploy/dagster.yaml limits the tag), never retried whole.
    tags={"wealth/kind": "sync", "dagster/max_retries": "0"},
)


def sync_day(execution_time: datetime) -> str:
    """The partition (Berlin day) a run at `execution_time` syncs."""
    return clock.day_of(execution_time).isoformat()


def demo_clock_request(
    context: dg.ScheduleEvaluationContext, clock: str, day: str, settings: Settings | None = None
) -> dg.RunRequest | dg.SkipReason:
    """On the shipped rates the clock stops on their last day: sync that day once, then skip.

    A sync of a later day would land balances no rate can ever convert (the excerpt never
    grows), so the schedule syncs the demo's own today instead, once (its run shows the
    day's snapshots, metadata and checks in the UI), and afterwards says why it waits.
    """
    run_key = f"daily_sync:{clock}"
    settings = settings or load_settings()
    why = rates_stop_sentence(date.fromisoformat(day), date.fromisoformat(clock), settings)
    if context.instance_ref is not None:
        done = context.instance.get_runs(
            filters=dg.RunsFilter(tags={"dagster/run_key": run_key}), limit=1
        )
        if done:
            return dg.SkipReason(
                f"{why} The demo's day {clock} was synced by run {done[0].run_id}."
            )
    return dg.RunRequest(run_key=run_key, partition_key=clock, tags={"wealth/demo_clock": clock})


def build_daily_sync_schedule(
    running: bool | None = None, settings: Settings | None = None
) -> dg.ScheduleDefinition:
    """The evening sync (17:30 Europe/Berlin); `running` defaults to WEALTH_SCHEDULES_RUNNING.

    `settings` (default: read now) are the definitions' own, used when the schedule ticks.
    """
    settings = settings or load_settings()
    if running is None:
        running = settings.schedules_running

    @dg.schedule(
        name="daily_sync",
        job=daily_sync_job,
        cron_schedule=f"{SYNC_MINUTE} {SYNC_HOUR} * * *",
        execution_timezone=TIMEZONE,
        description=(
            "Every evening after the ECB publishes, sync today's balances and positions of "
            "every due account (each user's sync frequency respected)."
        ),
        default_status=(
            dg.DefaultScheduleStatus.RUNNING if running else dg.DefaultScheduleStatus.STOPPED
        ),
    )
    def daily_sync(context: dg.ScheduleEvaluationContext) -> dg.RunRequest | dg.SkipReason:
        day = sync_day(context.scheduled_execution_time)
        static_end = shipped_excerpt_end(settings)
        if static_end is not None and day > static_end.isoformat():
            return demo_clock_request(context, static_end.isoformat(), day, settings)
        return dg.RunRequest(run_key=f"daily_sync:{day}", partition_key=day)

    return daily_sync
