"""The demo set-up: a user with the demo broker's four accounts and a year of converted history.

Offline and quick. The demo's clock ends on the last day of the ECB file behind
`settings.ecb_file` (the excerpt shipped in the package by default), so every demo day
finds a rate and the demo never goes stale. Rates: when the warehouse lacks the file's
rates for the demo's window, they are loaded from that same file with `fx.store.replace_rates`
(the window only, in the set-up's transaction); `wealth fx backfill --missing-only` before
it records them as materialized partitions in Dagster as well.

At the end it builds the marts (what changed) so the API and the report show the demo.

Running it again adds nothing: the user, accounts, sync key and auto-sync are created only
when missing, and the backfill writes only missing days.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import Engine, and_, func, select

from wealth_pipeline.brokers import demo as demo_broker
from wealth_pipeline.history.backfill import BackfillReport, backfill_history, window
from wealth_pipeline.settings import Settings
from wealth_pipeline.warehouse.schema import (
    exchange_rates,
    financial_accounts,
    profiles,
    sealed_data_keys,
    users,
)

if TYPE_CHECKING:
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
    rates_loaded: int = 0  # rate rows loaded from the ECB file (0: they were there)
    backfills: list[BackfillReport] = field(default_factory=list)
    marts: BuildReport | None = None
    projection_added: list[str] = field(default_factory=list)  # the demo goal and settings

    @property
    def snapshots_written(self) -> int:
        return sum(report.written for report in self.backfills)


def _ecb_file_source(settings: Settings):  # type: ignore[no-untyped-def]
    from wealth_pipeline.fx.sources import EcbFileRates

    return EcbFileRates(
        location=settings.ecb_file,
        timeout_seconds=settings.http_timeout_seconds,
        max_attempts=settings.http_max_attempts,
        backoff_seconds=settings.http_backoff_seconds,
    )


def demo_clock(settings: Settings) -> date:
    """The demo's today: the last day of the ECB file behind `settings.ecb_file`."""
    published = _ecb_file_source(settings).fetch(date.max, date.max)
    if published.latest_day is None:
        raise DemoError(f"the ECB file {settings.ecb_file} holds no rates")
    return published.latest_day


def ensure_rates(engine: Engine, settings: Settings, start: date, end: date) -> int:
    """Load the ECB file's rates of [start, end] unless the warehouse has them all; rows loaded."""
    from wealth_pipeline.fx.store import replace_rates

    published = _ecb_file_source(settings).fetch(start, end)
    wanted = len(published.days)
    with engine.connect() as connection:
        stored = connection.execute(
            select(func.count(func.distinct(exchange_rates.c.rate_date))).where(
                and_(
                    exchange_rates.c.base_currency == "EUR",
                    exchange_rates.c.rate_date.between(start, end),
                )
            )
        ).scalar_one()
    if stored >= wanted:
        return 0
    with engine.begin() as connection:
        return replace_rates(connection, published)


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
    report = DemoReport(clock=clock or demo_clock(settings))
    start, end = window(report.clock, days)
    # The rate lookup reaches back up to 14 days: a window starting on a weekend needs them.
    report.rates_loaded = ensure_rates(engine, settings, start - timedelta(days=14), end)
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
