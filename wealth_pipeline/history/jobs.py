"""Dagster side of the history backfill: an account-scoped job and the new-account sensor.

A backfill concerns one account, so it is a job with run config (account id, days,
overwrite), never a backfill over day partitions. The sensor launches it once for each new
account of a broker that delivers history; its evaluation is one query.

(No `from __future__ import annotations` here: Dagster reads the annotations at runtime.)
"""

import json
from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta

import dagster as dg
from sqlalchemy import Connection, and_, func, or_, select

from wealth_pipeline import clock
from wealth_pipeline.history.backfill import (
    HISTORY_DAYS,
    BackfillReport,
    HistoryError,
    backfill_history,
    history_codes,
)
from wealth_pipeline.sync.assets import SyncResource
from wealth_pipeline.warehouse import dialect
from wealth_pipeline.warehouse.resource import WarehouseResource
from wealth_pipeline.warehouse.schema import (
    account_snapshots,
    brokers,
    financial_accounts,
    profiles,
    sealed_data_keys,
    users,
)

OP_NAME = "backfill_account_history"
# Accounts created within this many days count as new: older ones never trigger the sensor.
NEW_ACCOUNT_DAYS = 7
SENSOR_INTERVAL_SECONDS = 60


class HistoryBackfillConfig(dg.Config):
    account_id: int
    days: int = HISTORY_DAYS
    overwrite: bool = False
    today: str = ""  # YYYY-MM-DD; default: today in Europe/Berlin (the demo: its own clock)


def backfill_metadata(report: BackfillReport) -> dict:
    metadata: dict = {
        "account_id": report.account_id,
        "broker": report.broker_code,
        "window": f"{report.start.isoformat()} .. {report.end.isoformat()}",
        "days_fetched": report.fetched,
        "snapshots_written": report.written,
        "snapshots_replaced": report.replaced,
        "snapshots_kept": report.kept,
        "manual_or_import_untouched": len(report.protected),
        "converted": report.converted,
        "unconverted": len(report.unconverted),
        "positions": report.positions,
    }
    if report.unconverted:
        listed = [f"{day.isoformat()}: {why}" for day, why in sorted(report.unconverted.items())]
        metadata["no_rate"] = dg.MetadataValue.text("; ".join(listed[:10]))
    return metadata


def _clock(config: HistoryBackfillConfig, broker_code: str, settings, engine=None) -> date:
    if config.today:
        return date.fromisoformat(config.today)
    if broker_code == "demo":
        from wealth_pipeline.history.demo import demo_clock

        return demo_clock(settings, engine)
    return clock.today()


@dg.op(
    name=OP_NAME,
    description=(
        "Fill one account's missing days from its broker's history (auto snapshots, converted "
        "into the owner's base currency) in one transaction; manual and imported snapshots "
        "are never overwritten."
    ),
    tags={"domain": "history"},
)
def backfill_account_history(
    context: dg.OpExecutionContext,
    config: HistoryBackfillConfig,
    warehouse: WarehouseResource,
    sync: SyncResource,
) -> dg.Output:
    from wealth_pipeline.security.worker import unlock_for_sync

    settings = sync.settings()  # the sync key and network settings the UI shows
    engine = warehouse.engine()
    with engine.connect() as connection:
        broker_code = connection.execute(
            select(brokers.c.code)
            .join(financial_accounts, financial_accounts.c.broker_id == brokers.c.id)
            .where(financial_accounts.c.id == config.account_id)
        ).scalar()
    if broker_code is None:
        raise dg.Failure(description=f"no such account: {config.account_id}")

    def unlock(connection: Connection, user_id: int):
        return unlock_for_sync(connection, user_id, settings.sync_key_file)

    try:
        report = backfill_history(
            engine,
            config.account_id,
            days=config.days,
            overwrite=config.overwrite,
            today=_clock(config, broker_code, settings, engine),
            unlock=unlock,
            settings=settings,
            with_positions=True,
        )
    except HistoryError as exc:
        raise dg.Failure(description=str(exc)) from None
    context.log.info(report.describe())
    return dg.Output(None, metadata=backfill_metadata(report))


@dg.job(
    name="history_backfill_job",
    description=(
        "One account's history from its broker (IBKR, True Wealth, VIAC, demo). Run config: "
        f"ops.{OP_NAME}.config.account_id (days: default {HISTORY_DAYS}; overwrite: replace "
        "existing auto snapshots too)."
    ),
    tags={"domain": "history"},
)
def history_backfill_job() -> None:
    backfill_account_history()


def run_config(account_id: int, days: int = HISTORY_DAYS, overwrite: bool = False) -> dict:
    return {
        "ops": {
            OP_NAME: {"config": {"account_id": account_id, "days": days, "overwrite": overwrite}}
        }
    }


# --- the sensor -----------------------------------------------------------------------------


def new_account_candidates(
    connection: Connection, codes: Iterable[str], now: datetime
) -> list[tuple[int, date, date | None]]:
    """(account id, creation day, earliest auto snapshot) of new accounts the worker can
    backfill: active, sync-enabled, at a history broker, owner active, and either holding no
    credentials or with the owner's auto-sync on. One query."""
    since = dialect.stored_moment(connection, now - timedelta(days=NEW_ACCOUNT_DAYS))
    earliest = func.min(account_snapshots.c.snapshot_date)
    query = (
        select(financial_accounts.c.id, financial_accounts.c.created_at, earliest)
        .join(brokers, brokers.c.id == financial_accounts.c.broker_id)
        .join(users, users.c.id == financial_accounts.c.user_id)
        .outerjoin(profiles, profiles.c.user_id == users.c.id)
        .outerjoin(sealed_data_keys, sealed_data_keys.c.user_id == users.c.id)
        .outerjoin(
            account_snapshots,
            and_(
                account_snapshots.c.account_id == financial_accounts.c.id,
                account_snapshots.c.snapshot_source == "auto",
            ),
        )
        .where(
            financial_accounts.c.created_at >= since,
            financial_accounts.c.status.in_(("active", "error")),
            financial_accounts.c.sync_enabled.is_(True),
            financial_accounts.c.is_manual.is_(False),
            brokers.c.code.in_(sorted(codes)),
            brokers.c.is_active.is_(True),
            brokers.c.supports_auto_sync.is_(True),
            users.c.is_active.is_(True),
            or_(
                financial_accounts.c.encrypted_credentials.is_(None),
                and_(
                    profiles.c.auto_sync_enabled.is_(True),
                    sealed_data_keys.c.user_id.is_not(None),
                ),
            ),
        )
        .group_by(financial_accounts.c.id, financial_accounts.c.created_at)
        .order_by(financial_accounts.c.id)
    )
    found = []
    for account_id, created_at, first in connection.execute(query):
        found.append((account_id, clock.day_of(created_at), first))
    return found


def needs_backfill(created: date, earliest_auto: date | None) -> bool:
    """No history yet: nothing synced, or nothing from before the account was added."""
    return earliest_auto is None or earliest_auto >= created - timedelta(days=1)


def parse_cursor(cursor: str | None) -> set[int]:
    if not cursor:
        return set()
    try:
        return {int(i) for i in json.loads(cursor).get("requested", [])}
    except (ValueError, TypeError, AttributeError):
        return set()


def make_cursor(requested: Sequence[int]) -> str:
    return json.dumps({"requested": sorted(requested)})


def build_new_account_history_sensor(interval_seconds: int | None = None) -> dg.SensorDefinition:
    """The new-account sensor, evaluated every `interval_seconds` (default
    SENSOR_INTERVAL_SECONDS; `WEALTH_SENSOR_INTERVAL_SECONDS`)."""

    @dg.sensor(
        name="new_account_history_sensor",
        job=history_backfill_job,
        minimum_interval_seconds=interval_seconds or SENSOR_INTERVAL_SECONDS,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=(
            "Launches history_backfill_job once for each account added in the last "
            f"{NEW_ACCOUNT_DAYS} days at a broker that delivers history, when it has none yet."
        ),
    )
    def new_account_history_sensor(
        context: dg.SensorEvaluationContext, warehouse: WarehouseResource
    ) -> dg.SensorResult:
        return new_account_requests(context, warehouse)

    return new_account_history_sensor


def new_account_requests(
    context: dg.SensorEvaluationContext, warehouse: WarehouseResource
) -> dg.SensorResult:
    """One backfill run per new account without history; the cursor remembers them."""
    now = clock.now()
    with warehouse.engine().connect() as connection:
        candidates = new_account_candidates(connection, history_codes(), now)
    requested = parse_cursor(context.cursor)
    fresh = [
        account_id
        for account_id, created, earliest in candidates
        if account_id not in requested and needs_backfill(created, earliest)
    ]
    # The cursor keeps only ids still in the new-account window: it stays small.
    current = {account_id for account_id, _, _ in candidates}
    keep = (requested & current) | set(fresh)
    return dg.SensorResult(
        run_requests=[
            dg.RunRequest(
                run_key=f"history_backfill:{account_id}",
                run_config=run_config(account_id),
                tags={"account_id": str(account_id), "domain": "history"},
            )
            for account_id in fresh
        ],
        cursor=make_cursor(sorted(keep)),
    )


new_account_history_sensor = build_new_account_history_sensor()
