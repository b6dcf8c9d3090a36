"""What the sync's asset checks look at: small queries over the snapshots of some days.

Each returns the offending items (empty means the check passes), so the Dagster checks stay
thin and these are tested directly.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from itertools import pairwise

from sqlalchemy import Connection, and_, func, select

from wealth_pipeline import clock
from wealth_pipeline.sync.due import FREQUENCY_GRACE, SYNCED_ACCOUNT_STATUSES
from wealth_pipeline.warehouse.schema import (
    account_snapshots,
    brokers,
    financial_accounts,
    portfolio_positions,
    profiles,
    users,
)

POSITIONS_TOLERANCE = Decimal("0.01")  # positions within 1 % of the balance
POSITIONS_MINIMUM_TOLERANCE = Decimal("1.0000")  # ... or within 1 unit, for small balances
DAY_OVER_DAY_THRESHOLD = Decimal("0.5")  # a balance moving by more than 50 % in a day
DAY_OVER_DAY_LOOKBACK = 7  # days back to find the previous snapshot


@dataclass(frozen=True)
class Finding:
    account_id: int
    day: date
    detail: str


def duplicate_snapshots(connection: Connection, days: Sequence[date]) -> list[Finding]:
    count = func.count().label("count")
    rows = connection.execute(
        select(account_snapshots.c.account_id, account_snapshots.c.snapshot_date, count)
        .where(account_snapshots.c.snapshot_date.in_(list(days)))
        .group_by(account_snapshots.c.account_id, account_snapshots.c.snapshot_date)
        .having(func.count() > 1)
    )
    return [Finding(r.account_id, r.snapshot_date, f"{r.count} snapshots") for r in rows]


def unconverted_snapshots(
    connection: Connection, days: Sequence[date]
) -> tuple[list[Finding], list[Finding]]:
    """Snapshots of `days` without a base-currency amount: (without a reason, with one).

    One with a reason (`conversion_note`: no rate yet, unknown currency, a gap in the ECB's
    series) is explained and waits for the conversion sensor or a person; one without is a
    bug: a total that silently leaves it out.
    """
    s = account_snapshots
    rows = connection.execute(
        select(s.c.account_id, s.c.snapshot_date, s.c.currency, s.c.conversion_note)
        .where(s.c.snapshot_date.in_(list(days)), s.c.balance_base_currency.is_(None))
        .order_by(s.c.snapshot_date, s.c.account_id)
    )
    unexplained, explained = [], []
    for row in rows:
        if row.conversion_note:
            explained.append(Finding(row.account_id, row.snapshot_date, row.conversion_note))
        else:
            detail = f"{row.currency} balance without a base-currency amount and without a reason"
            unexplained.append(Finding(row.account_id, row.snapshot_date, detail))
    return unexplained, explained


def positions_off_balance(connection: Connection, days: Sequence[date]) -> list[Finding]:
    """Snapshots whose positions' base-currency market value is off the balance."""
    total = func.sum(portfolio_positions.c.market_value_base_currency).label("total")
    unconverted = func.count(portfolio_positions.c.id) - func.count(
        portfolio_positions.c.market_value_base_currency
    )
    rows = connection.execute(
        select(
            account_snapshots.c.account_id,
            account_snapshots.c.snapshot_date,
            account_snapshots.c.balance_base_currency,
            total,
        )
        .join(portfolio_positions, portfolio_positions.c.snapshot_id == account_snapshots.c.id)
        .where(
            account_snapshots.c.snapshot_date.in_(list(days)),
            account_snapshots.c.balance_base_currency.is_not(None),
        )
        .group_by(
            account_snapshots.c.id,
            account_snapshots.c.account_id,
            account_snapshots.c.snapshot_date,
            account_snapshots.c.balance_base_currency,
        )
        .having(unconverted == 0)
    )
    found = []
    for row in rows:
        balance, positions = row.balance_base_currency, row.total
        allowed = max(abs(balance) * POSITIONS_TOLERANCE, POSITIONS_MINIMUM_TOLERANCE)
        if abs(positions - balance) > allowed:
            found.append(
                Finding(
                    row.account_id, row.snapshot_date, f"positions {positions} vs balance {balance}"
                )
            )
    return found


def large_changes(connection: Connection, days: Sequence[date]) -> list[Finding]:
    """Balances that moved by more than the threshold since the account's previous snapshot."""
    first = min(days) - timedelta(days=DAY_OVER_DAY_LOOKBACK)
    rows = connection.execute(
        select(
            account_snapshots.c.account_id,
            account_snapshots.c.snapshot_date,
            account_snapshots.c.balance,
            account_snapshots.c.currency,
        )
        .where(account_snapshots.c.snapshot_date.between(first, max(days)))
        .order_by(account_snapshots.c.account_id, account_snapshots.c.snapshot_date)
    )
    series: dict[int, list] = defaultdict(list)
    for row in rows:
        series[row.account_id].append(row)
    wanted = set(days)
    found = []
    for account_id, snapshots in series.items():
        for before, now in pairwise(snapshots):
            if now.snapshot_date not in wanted or before.currency != now.currency:
                continue
            if before.balance == 0:
                continue
            change = (now.balance - before.balance) / abs(before.balance)
            if abs(change) > DAY_OVER_DAY_THRESHOLD:
                found.append(
                    Finding(account_id, now.snapshot_date,
                            f"{before.balance} -> {now.balance} {now.currency} since "
                            f"{before.snapshot_date.isoformat()} ({change:+.0%})")
                )  # fmt: skip
    return found


def stale_accounts(connection: Connection, now: datetime | None = None) -> list[Finding]:
    """Auto-synced accounts whose data last came from their broker longer ago than their
    user's frequency: the last successful sync or, for an account never synced, the last
    history fill (`wealth demo setup`, `wealth accounts backfill`: the broker's data is as
    fresh as a sync's, and the first scheduled sync is not late yet)."""
    now = now or clock.now()
    rows = connection.execute(
        select(
            financial_accounts.c.id,
            financial_accounts.c.status,
            financial_accounts.c.last_synced_at,
            profiles.c.sync_frequency_hours,
        )
        .join(brokers, brokers.c.id == financial_accounts.c.broker_id)
        .join(users, users.c.id == financial_accounts.c.user_id)
        .join(profiles, profiles.c.user_id == users.c.id)
        .where(
            and_(
                financial_accounts.c.sync_enabled.is_(True),
                financial_accounts.c.is_manual.is_(False),
                financial_accounts.c.status.in_((*SYNCED_ACCOUNT_STATUSES, "pending_auth")),
                brokers.c.supports_auto_sync.is_(True),
                users.c.is_active.is_(True),
                profiles.c.auto_sync_enabled.is_(True),
            )
        )
        .order_by(financial_accounts.c.id)
    ).all()
    filled = _last_filled(connection, [row.id for row in rows if row.last_synced_at is None])
    found = []
    today = clock.day_of(now)
    for row in rows:
        last = _utc(row.last_synced_at)
        allowed = timedelta(hours=row.sync_frequency_hours) + FREQUENCY_GRACE
        reference = last or _utc(filled.get(row.id))
        if reference is None or now - reference > allowed:
            if last is not None:
                since = f"last synced {last.isoformat(timespec='minutes')}"
            elif reference is not None:
                since = f"never synced, history filled {reference.isoformat(timespec='minutes')}"
            else:
                since = "never synced"
            found.append(
                Finding(
                    row.id, today, f"{since} ({row.status}; every {row.sync_frequency_hours} h)"
                )
            )
    return found


def _utc(moment: datetime | None) -> datetime | None:
    return None if moment is None else clock.as_utc(moment)


def _last_filled(connection: Connection, account_ids: Sequence[int]) -> dict[int, datetime]:
    """When each account's broker data last arrived by a history fill: the newest write of
    an `auto` snapshot (what a backfill writes; manual and imported ones are a person's)."""
    if not account_ids:
        return {}
    rows = connection.execute(
        select(account_snapshots.c.account_id, func.max(account_snapshots.c.created_at))
        .where(
            account_snapshots.c.account_id.in_(account_ids),
            account_snapshots.c.snapshot_source == "auto",
        )
        .group_by(account_snapshots.c.account_id)
    ).all()
    return {account_id: moment for account_id, moment in rows if moment is not None}
