"""Which accounts the sync handles for a day (a read-only query; no side effects)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import Connection, and_, or_, select

from wealth_pipeline import clock
from wealth_pipeline.warehouse.schema import (
    account_sync_state,
    brokers,
    financial_accounts,
    profiles,
    sealed_data_keys,
    users,
)

# Account statuses the sync picks up: `pending_auth` waits for a person
# (`wealth accounts auth`), `inactive` is switched off.
SYNCED_ACCOUNT_STATUSES = ("active", "error")
# Sync states of a day that count as done: a retry of the day leaves these accounts alone.
DONE_STATUSES = ("success", "no_new_data", "skipped", "pending_auth")
# Reason prefix of an authentication failure: never retried the same day (banks lock logins).
AUTH_FAILED = "authentication failed: "
# A schedule fires at the same time each day, give or take: a 24-hour frequency must not
# skip a day because yesterday's run finished a few minutes later than today's starts.
FREQUENCY_GRACE = timedelta(hours=1)


@dataclass(frozen=True)
class DueAccount:
    account_id: int
    user_id: int
    username: str
    broker_code: str
    identifier: str
    has_credentials: bool


def due_by_frequency(last_synced_at: datetime | None, frequency_hours: int, now: datetime) -> bool:
    """Whether the last successful sync is older than the user's frequency (with grace)."""
    if last_synced_at is None:
        return True
    return now - clock.as_utc(last_synced_at) >= timedelta(hours=frequency_hours) - FREQUENCY_GRACE


def due_accounts(
    connection: Connection, day: date, now: datetime | None = None
) -> list[DueAccount]:
    """The accounts to sync for `day`, in id order.

    An account is due when it is sync-enabled and not manual, its status is active or error,
    its broker syncs unattended or assisted, its owner is active with auto-sync on, and it has no
    finished sync state for `day` (success, no new data, skipped, paused for a person, or an
    authentication failure). An account holding credentials also needs the owner's sealed
    data key (credential-free brokers such as the demo do not). The user's sync frequency
    applies to today's partition (the schedule); a past day asked for explicitly syncs
    every account not yet written that day.
    """
    now = now or clock.now()
    state = account_sync_state
    query = (
        select(
            financial_accounts.c.id,
            financial_accounts.c.user_id,
            users.c.username,
            brokers.c.code,
            financial_accounts.c.account_identifier,
            financial_accounts.c.encrypted_credentials.is_not(None).label("has_credentials"),
            financial_accounts.c.last_synced_at,
            profiles.c.sync_frequency_hours,
        )
        .join(brokers, brokers.c.id == financial_accounts.c.broker_id)
        .join(users, users.c.id == financial_accounts.c.user_id)
        .join(profiles, profiles.c.user_id == users.c.id)
        .outerjoin(sealed_data_keys, sealed_data_keys.c.user_id == users.c.id)
        .outerjoin(
            state, and_(state.c.account_id == financial_accounts.c.id, state.c.sync_date == day)
        )
        .where(
            financial_accounts.c.sync_enabled.is_(True),
            financial_accounts.c.is_manual.is_(False),
            financial_accounts.c.status.in_(SYNCED_ACCOUNT_STATUSES),
            # Unattended brokers sync; assisted ones are looked at (a live session is reused,
            # otherwise they are listed as waiting), never logged in afresh.
            or_(brokers.c.supports_auto_sync.is_(True), brokers.c.sync_mode == "assisted"),
            users.c.is_active.is_(True),
            profiles.c.auto_sync_enabled.is_(True),
            or_(
                financial_accounts.c.encrypted_credentials.is_(None),
                sealed_data_keys.c.user_id.is_not(None),
            ),
            or_(
                state.c.account_id.is_(None),
                and_(
                    state.c.status.not_in(DONE_STATUSES),
                    or_(state.c.reason.is_(None), state.c.reason.not_like(f"{AUTH_FAILED}%")),
                ),
            ),
        )
        .order_by(financial_accounts.c.id)
    )
    scheduled_day = day >= clock.day_of(now)
    return [
        DueAccount(
            account_id=row.id,
            user_id=row.user_id,
            username=row.username,
            broker_code=row.code,
            identifier=row.account_identifier,
            has_credentials=bool(row.has_credentials),
        )
        for row in connection.execute(query)
        if not scheduled_day or due_by_frequency(row.last_synced_at, row.sync_frequency_hours, now)
    ]
