"""The demo set-up: a user with the demo broker's four accounts and a year of converted history.

Quick, and offline when it must be. Rates come from the configured source (by default the
excerpt shipped in the package for its days and Frankfurter for later ones): the days the
warehouse lacks are loaded with `fx.assets.refresh_rates`, the same refresh the
`exchange_rates` asset runs. The demo's clock is today when a rate converts today (online),
else the last day with rates (offline: the excerpt's last day), so every demo day converts
and the demo is current whenever the machine is online.

At the end it builds the marts (what changed) so the API and the report show the demo.

Running it again adds nothing: the user, accounts, sync key and auto-sync are created only
when missing, and the backfill writes only missing days.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import Engine, and_, delete, func, select, true

from wealth_pipeline import clock as wealth_clock
from wealth_pipeline.brokers import demo as demo_broker
from wealth_pipeline.fx.store import stored_span
from wealth_pipeline.history.backfill import (
    BackfillReport,
    backfill_history,
    window,
)
from wealth_pipeline.settings import Settings
from wealth_pipeline.warehouse.schema import (
    financial_accounts,
    profiles,
    sealed_data_keys,
    users,
)

if TYPE_CHECKING:
    from wealth_pipeline.fx.assets import Refresh
    from wealth_pipeline.marts import BuildReport

DEMO_USER = "demo"
DEMO_PASSWORD = "demo-password"  # the demo only: it guards made-up data, nothing else
DEMO_BASE_CURRENCY = "EUR"
# The demo user receives the weekly report: in the outbox folder unless SMTP is configured.
DEMO_EMAIL = "demo@example.org"
DEMO_DAYS = 365


class DemoError(Exception):
    """The demo cannot be set up; the message says why."""


@dataclass
class DemoReport:
    user_id: int = 0
    clock: date | None = None
    created_user: bool = False
    created_accounts: list[str] = field(default_factory=list)
    created_sync_key: bool = False
    enabled_auto_sync: bool = False
    rates_loaded: int = 0  # rate rows loaded from the rate source (0: they were there)
    rates: Refresh | None = None  # the refresh that loaded them (per-day outcomes)
    backfills: list[BackfillReport] = field(default_factory=list)
    marts: BuildReport | None = None
    projection_added: list[str] = field(default_factory=list)  # the demo goal and settings

    @property
    def snapshots_written(self) -> int:
        return sum(report.written for report in self.backfills)


def _file_first_and_last(settings: Settings) -> tuple[date | None, date | None]:
    """The first and last day of the ECB file behind `settings.ecb_file` (no network for the
    shipped excerpt; None, None for the Frankfurter source)."""
    from wealth_pipeline.fx.sources import EcbFileRates

    if settings.fx_source == "frankfurter":
        return None, None
    published = EcbFileRates(
        location=settings.ecb_file,
        timeout_seconds=settings.http_timeout_seconds,
        max_attempts=settings.http_max_attempts,
        backoff_seconds=settings.http_backoff_seconds,
    ).fetch(date.max, date.max)
    return published.earliest_day, published.latest_day


def _stored_span(engine: Engine) -> tuple[date | None, date | None]:
    with engine.connect() as connection:
        return stored_span(connection)


def demo_clock(settings: Settings, engine: Engine | None = None, today: date | None = None) -> date:
    """The demo's today: today when a rate converts it (the latest stored rate at most the
    rate lookup's 14 days back), else the last day with rates, so every demo day converts."""
    from wealth_pipeline.fx.lookup import LOOKBACK

    today = today or wealth_clock.today()
    latest = _stored_span(engine)[1] if engine is not None else None
    if latest is None:
        latest = _file_first_and_last(settings)[1]
    if latest is None:
        raise DemoError(f"no exchange rates: the rate source ({settings.fx_source}) holds none")
    return today if latest <= today <= latest + LOOKBACK else min(latest, today)


def ensure_rates(engine: Engine, settings: Settings, start: date, end: date) -> Refresh | None:
    """Load the rates of [start, end] the warehouse lacks from the configured source (only the
    demo's window: each day loaded is also recorded in Dagster, at ~12 ms a day; `wealth fx
    backfill` loads the rest of the excerpt); None when nothing was missing."""
    from wealth_pipeline.fx.assets import refresh_rates
    from wealth_pipeline.fx.sources import source_for

    low, high = _stored_span(engine)
    if low is None or high is None or low > start:
        first = start
    elif high < end:
        first = high + timedelta(days=1)
    else:
        return None
    days = [first + timedelta(days=n) for n in range((end - first).days + 1)]
    return refresh_rates(engine, source_for(settings), days)


def ensure_user(engine: Engine, password: str, report: DemoReport) -> None:
    from wealth_pipeline.profiles import update_profile
    from wealth_pipeline.security.vault import create_user

    with engine.begin() as connection:
        found = connection.execute(select(users.c.id).where(users.c.username == DEMO_USER)).scalar()
        if found is None:
            found = create_user(
                connection,
                DEMO_USER,
                password,
                email=DEMO_EMAIL,
                base_currency=DEMO_BASE_CURRENCY,
            )
            update_profile(connection, found, weekly_report_enabled=True)
            report.created_user = True
    report.user_id = int(found)


def ensure_accounts(engine: Engine, user_id: int, report: DemoReport) -> list[int]:
    """The demo broker's four accounts (by identifier), created when missing; their ids."""
    from wealth_pipeline.accounts import Owner, create_account
    from wealth_pipeline.brokers.catalogue import ensure_catalogue, get_broker

    ids = []
    with engine.begin() as connection:
        ensure_catalogue(connection)
        broker = get_broker(connection, "demo")
        if broker is None:  # pragma: no cover - the catalogue ships it
            raise DemoError("the broker catalogue has no demo broker")
        base = connection.execute(
            select(profiles.c.base_currency).where(profiles.c.user_id == user_id)
        ).scalar_one()
        owner = Owner(user_id, DEMO_USER, base)
        for info in demo_broker.ACCOUNTS:
            account_id = connection.execute(
                select(financial_accounts.c.id).where(
                    and_(
                        financial_accounts.c.user_id == user_id,
                        financial_accounts.c.broker_id == broker["id"],
                        financial_accounts.c.account_identifier == info.identifier,
                    )
                )
            ).scalar()
            if account_id is None:
                account_id = create_account(
                    connection,
                    owner=owner,
                    broker=broker,
                    name=info.name,
                    account_type=info.account_type,
                    currency=info.currency,
                    identifier=info.identifier,
                )
                report.created_accounts.append(info.identifier)
            ids.append(account_id)
    return ids


def ensure_auto_sync(engine: Engine, settings: Settings, password: str, report: DemoReport) -> None:
    """The pipeline's sync key (created if missing) and the demo user's data key sealed to it."""
    from wealth_pipeline.security.sync_keys import (
        enable_auto_sync,
        generate_key_pair,
        key_id,
        load_public_key,
        public_key_path,
    )
    from wealth_pipeline.security.vault import VaultError, unlock

    if not settings.sync_key_file.exists():
        generate_key_pair(settings.sync_key_file)
        report.created_sync_key = True
    public_key = load_public_key(public_key_path(settings.sync_key_file))
    with engine.connect() as connection:
        row = connection.execute(
            select(profiles.c.auto_sync_enabled, sealed_data_keys.c.sync_key_id)
            .select_from(profiles)
            .outerjoin(sealed_data_keys, sealed_data_keys.c.user_id == profiles.c.user_id)
            .where(profiles.c.user_id == report.user_id)
        ).one()
        if row.auto_sync_enabled and row.sync_key_id == key_id(public_key):
            return
        try:
            unlocked = unlock(connection, DEMO_USER, password)
        except VaultError as exc:
            raise DemoError(
                f"cannot enable auto-sync for the demo user: {exc} "
                "(was it created with another password? pass it with --password-env)"
            ) from None
    with engine.begin() as connection:
        enable_auto_sync(connection, unlocked, public_key)
    report.enabled_auto_sync = True


def setup_demo(
    engine: Engine,
    settings: Settings,
    *,
    password: str = DEMO_PASSWORD,
    days: int = DEMO_DAYS,
    clock: date | None = None,
) -> DemoReport:
    """Create (idempotently) the demo user, accounts and auto-sync, and backfill `days` days."""
    today = clock or wealth_clock.today()
    # The window ends today online, on the file's last day offline: cover both. The rate
    # lookup reaches back up to 14 days: a window starting on a weekend needs them.
    file_last = _file_first_and_last(settings)[1]
    anchor = min(today, file_last) if file_last else today
    start = window(anchor, days)[0] - timedelta(days=14)
    report = DemoReport()
    report.rates = ensure_rates(engine, settings, start, today)
    report.rates_loaded = report.rates.rows if report.rates else 0
    report.clock = clock or demo_clock(settings, engine, today)
    ensure_user(engine, password, report)
    account_ids = ensure_accounts(engine, report.user_id, report)
    ensure_auto_sync(engine, settings, password, report)
    for account_id in account_ids:
        report.backfills.append(
            backfill_history(
                engine,
                account_id,
                days=days,
                today=report.clock,
                settings=settings,
                with_positions=True,
            )
        )
    # The marts the API and the report read, so the demo shows them at once.
    from wealth_pipeline.marts import build_marts

    report.marts = build_marts(engine)
    report.projection_added = ensure_projection(engine, report.user_id, report.clock)
    return report


def snapshot_days(
    engine: Engine, user_id: int, start: date, end: date, account_ids: list[int] | None = None
) -> dict[date, int]:
    """Snapshots per day of the user's accounts (or `account_ids`) in [start, end]: what
    Dagster is told a command filled."""
    from wealth_pipeline.warehouse.schema import account_snapshots

    return _rows_per_day(engine, account_snapshots.c.snapshot_date, user_id, start, end, account_ids)


def flow_days(
    engine: Engine, user_id: int, start: date, end: date, account_ids: list[int] | None = None
) -> dict[date, int]:
    """Cash flows per day of the user's accounts (or `account_ids`) in [start, end]: the
    `account_cash_flows` partitions a history fill wrote beside the snapshots."""
    from wealth_pipeline.warehouse.schema import cash_flows

    return _rows_per_day(engine, cash_flows.c.flow_date, user_id, start, end, account_ids)


def _rows_per_day(
    engine: Engine, day, user_id: int, start: date, end: date, account_ids: list[int] | None
) -> dict[date, int]:
    table = day.table
    with engine.connect() as connection:
        rows = connection.execute(
            select(day, func.count())
            .join(financial_accounts, financial_accounts.c.id == table.c.account_id)
            .where(
                and_(
                    financial_accounts.c.user_id == user_id,
                    day.between(start, end),
                    financial_accounts.c.id.in_(account_ids) if account_ids else true(),
                )
            )
            .group_by(day)
        ).all()
    return {row[0]: int(row[1]) for row in rows}


def remove_demo_user(engine: Engine) -> bool:
    """Delete the demo user with everything of theirs (accounts, snapshots, positions, marts,
    tokens, deliveries: the foreign keys cascade); False when there is none."""
    with engine.begin() as connection:
        return bool(connection.execute(delete(users).where(users.c.username == DEMO_USER)).rowcount)


# The demo's goal and spending, so its projection shows a goal line and a stop-working date.
DEMO_GOAL = ("Lake house", "1150000.00", date(2030, 6, 30))
DEMO_YEARLY_SPENDING = "36000.00"
DEMO_BIRTH_YEAR = 1985


def ensure_projection(engine: Engine, user_id: int, clock: date) -> list[str]:
    """The demo's goal and projection settings, each only when missing (what was added)."""
    from wealth_pipeline.projection.goals import add_goal, get_settings, list_goals, update_settings

    added = []
    with engine.begin() as connection:
        name, target, by = DEMO_GOAL
        if by > clock and all(goal.name != name for goal in list_goals(connection, user_id)):
            add_goal(connection, user_id, name, target, by, clock)
            added.append(f"goal {name} ({target} by {by.isoformat()})")
        current = get_settings(connection, user_id)
        if current.yearly_spending is None:
            update_settings(connection, user_id, clock, yearly_spending=DEMO_YEARLY_SPENDING)
            added.append(f"yearly spending {DEMO_YEARLY_SPENDING}")
        if current.birth_year is None:
            update_settings(connection, user_id, clock, birth_year=DEMO_BIRTH_YEAR)
            added.append(f"birth year {DEMO_BIRTH_YEAR}")
    return added
