"""The one way a snapshot is written: manual entry, CSV import and (later) broker syncs.

`write_snapshots` in the caller's transaction:
- refuses a day that already has a snapshot unless `replace` (a replaced snapshot goes
  with its positions: they described the old balance);
- writes each snapshot's positions (broker syncs), converted with the same rates: price,
  market value and the rate used in the base currency;
- converts each balance into the owner's base currency with the shared rate lookup
  (`fx.lookup.RateBook` over the days written). Without a rate the conversion columns stay
  NULL and the reason is returned, never a made-up rate;
- stores raw broker data only redacted (`brokers.redact`): no secrets, no session tokens;
- records the earliest day changed for the account (`marts.changes`: kept at the minimum),
  so the marts rebuild that account and the owner's totals from there.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from fractions import Fraction
from typing import Any

from sqlalchemy import Connection, and_, delete, func, insert, select

from wealth_pipeline import money
from wealth_pipeline.brokers.catalogue import secret_fields
from wealth_pipeline.brokers.redact import storable
from wealth_pipeline.fx.lookup import RateBook
from wealth_pipeline.marts.changes import record_mart_change, record_removed_account_change
from wealth_pipeline.snapshots.values import check_day
from wealth_pipeline.warehouse import dialect
from wealth_pipeline.warehouse.schema import (
    SNAPSHOT_SOURCES,
    account_snapshots,
    account_sync_state,
    brokers,
    financial_accounts,
    portfolio_positions,
    profiles,
)


class SnapshotError(ValueError):
    """A snapshot that cannot be written as asked; the message says why."""


class SnapshotExists(SnapshotError):
    def __init__(self, account_id: int, days: Sequence[date]) -> None:
        self.days = list(days)
        listed = ", ".join(day.isoformat() for day in self.days[:10])
        more = f" and {len(self.days) - 10} more" if len(self.days) > 10 else ""
        super().__init__(
            f"account {account_id} already has a snapshot on {listed}{more} (replace it explicitly)"
        )


@dataclass(frozen=True)
class NewPosition:
    symbol: str
    name: str
    quantity: Decimal
    price_per_unit: Decimal | None
    market_value: Decimal
    currency: str
    isin: str | None = None
    cost_basis: Decimal | None = None
    asset_class: str = "other"


@dataclass(frozen=True)
class NewSnapshot:
    day: date
    balance: Decimal
    currency: str
    available_balance: Decimal | None = None
    raw_data: Mapping[str, Any] | None = None
    positions: Sequence[NewPosition] = ()


@dataclass(frozen=True)
class StoredSnapshot:
    id: int
    account_id: int
    day: date
    balance: Decimal
    currency: str
    base_currency: str
    balance_base_currency: Decimal | None
    exchange_rate_used: Decimal | None
    rate_date: date | None
    replaced: bool
    no_rate_reason: str | None  # why the conversion is NULL


def base_currency_of(connection: Connection, user_id: int) -> str:
    found = connection.execute(
        select(profiles.c.base_currency).where(profiles.c.user_id == user_id)
    ).scalar()
    return found or money.DEFAULT_BASE_CURRENCY


def write_snapshots(
    connection: Connection,
    account_id: int,
    snapshots: Sequence[NewSnapshot],
    *,
    source: str,
    replace: bool = False,
    secret_values: Iterable[str] = (),
) -> list[StoredSnapshot]:
    """Write `snapshots` of one account (all or none: the caller's transaction)."""
    if source not in SNAPSHOT_SOURCES:
        raise SnapshotError(f"snapshot source must be one of {', '.join(SNAPSHOT_SOURCES)}")
    if not snapshots:
        return []
    _check(snapshots)
    lock_account(connection, account_id)
    account = connection.execute(
        select(financial_accounts.c.user_id, brokers.c.credential_schema)
        .join(brokers, brokers.c.id == financial_accounts.c.broker_id)
        .where(financial_accounts.c.id == account_id)
    ).first()
    if account is None:
        raise SnapshotError(f"no such account: {account_id}")
    days = [snapshot.day for snapshot in snapshots]
    first, last = min(days), max(days)
    existing = dict(
        connection.execute(
            select(account_snapshots.c.snapshot_date, account_snapshots.c.id).where(
                and_(
                    account_snapshots.c.account_id == account_id,
                    account_snapshots.c.snapshot_date.between(first, last),
                )
            )
        ).all()
    )
    taken = sorted(day for day in days if day in existing)
    if taken and not replace:
        raise SnapshotExists(account_id, taken)
    if taken:
        replaced_ids = [existing[day] for day in taken]
        connection.execute(
            delete(portfolio_positions).where(portfolio_positions.c.snapshot_id.in_(replaced_ids))
        )
        connection.execute(
            delete(account_snapshots).where(account_snapshots.c.id.in_(replaced_ids))
        )

    base = base_currency_of(connection, account.user_id)
    currencies = {s.currency for s in snapshots} | {
        p.currency for s in snapshots for p in s.positions
    }
    book = RateBook.load(connection, first, last, currencies | {base})
    secret_keys = secret_fields(account.credential_schema or {})
    rows, results = [], []
    for snapshot in snapshots:
        found = book.rate(snapshot.currency, base, snapshot.day)
        converted = found.convert(snapshot.balance) if found else None
        rows.append(
            {
                "account_id": account_id,
                "snapshot_date": snapshot.day,
                "balance": snapshot.balance,
                "currency": snapshot.currency,
                "available_balance": snapshot.available_balance,
                "base_currency": base if found else None,
                "balance_base_currency": converted,
                "exchange_rate_used": found.rate if found else None,
                "rate_date": found.rate_date if found else None,
                "conversion_note": None if found else found.reason,
                "snapshot_source": source,
                "raw_data": storable(snapshot.raw_data, secret_keys, secret_values=secret_values),
            }
        )
        results.append((snapshot, found, converted))
    ids = (
        connection.execute(
            insert(account_snapshots).returning(
                account_snapshots.c.id, sort_by_parameter_order=True
            ),
            rows,
        )
        .scalars()
        .all()
    )
    position_rows = [
        position_row(snapshot_id, position, book.rate(position.currency, base, snapshot.day))
        for snapshot_id, snapshot in zip(ids, snapshots, strict=True)
        for position in snapshot.positions
    ]
    if position_rows:
        connection.execute(insert(portfolio_positions), position_rows)
    record_removed_account_change(
        connection,
        account.user_id,
        account_id,
        first,
        f"{len(snapshots)} {source} snapshot(s) of account {account_id}",
    )
    return [
        StoredSnapshot(
            id=snapshot_id,
            account_id=account_id,
            day=snapshot.day,
            balance=snapshot.balance,
            currency=snapshot.currency,
            base_currency=base,
            balance_base_currency=converted,
            exchange_rate_used=found.rate if found else None,
            rate_date=found.rate_date if found else None,
            replaced=snapshot.day in existing,
            no_rate_reason=None if found else found.reason,
        )
        for snapshot_id, (snapshot, found, converted) in zip(ids, results, strict=True)
    ]


def write_snapshot(
    connection: Connection,
    account_id: int,
    snapshot: NewSnapshot,
    *,
    source: str,
    replace: bool = False,
    secret_values: Iterable[str] = (),
) -> StoredSnapshot:
    return write_snapshots(
        connection,
        account_id,
        [snapshot],
        source=source,
        replace=replace,
        secret_values=secret_values,
    )[0]


def position_row(snapshot_id: int, position: NewPosition, found: Any) -> dict[str, Any]:
    """A `portfolio_positions` row, converted with `found` (an FxRate, or a falsy NoRate)."""
    price_base = None
    if found and position.price_per_unit is not None:
        exact = Fraction(money.to_decimal(position.price_per_unit)) * Fraction(found.rate)
        price_base = money.quantize(exact, money.PRICE_PLACES)
    return {
        "snapshot_id": snapshot_id,
        "symbol": position.symbol[:40],
        "isin": position.isin,
        "name": position.name[:300],
        "quantity": money.quantize(money.to_decimal(position.quantity), money.QUANTITY_PLACES),
        "price_per_unit": None
        if position.price_per_unit is None
        else money.quantize(money.to_decimal(position.price_per_unit), money.PRICE_PLACES),
        "market_value": position.market_value,
        "currency": position.currency,
        "cost_basis": position.cost_basis,
        "asset_class": position.asset_class,
        "price_base_currency": price_base,
        "market_value_base_currency": found.convert(position.market_value) if found else None,
        "exchange_rate_used": found.rate if found else None,
    }


def lock_account(connection: Connection, account_id: int) -> None:
    """Hold the account's row until the transaction ends, so two writers of one account queue.

    On PostgreSQL two imports into one account would otherwise both see a day free and the
    second die on the unique index; after the lock, the second sees the first's rows and is
    refused cleanly. SQLite needs nothing: the warehouse's writers take the database lock at
    BEGIN (IMMEDIATE).
    """
    if not dialect.is_sqlite(connection):
        connection.execute(
            select(financial_accounts.c.id)
            .where(financial_accounts.c.id == account_id)
            .with_for_update()
        )


def _check(snapshots: Sequence[NewSnapshot]) -> None:
    seen: set[date] = set()
    exponent = Decimal(1).scaleb(-money.AMOUNT_PLACES)
    for snapshot in snapshots:
        if snapshot.day in seen:
            raise SnapshotError(f"two snapshots for {snapshot.day}: one per account and day")
        seen.add(snapshot.day)
        try:
            check_day(snapshot.day)  # every writer: manual, CSV, broker syncs, history
        except ValueError as exc:
            raise SnapshotError(str(exc)) from None
        if len(snapshot.currency) != 3 or not snapshot.currency.isupper():
            raise SnapshotError(f"bad currency {snapshot.currency!r}: a 3-letter ISO code")
        amounts = [snapshot.balance, snapshot.available_balance]
        for position in snapshot.positions:
            if len(position.currency) != 3 or not position.currency.isupper():
                raise SnapshotError(f"bad position currency {position.currency!r}")
            amounts += [position.market_value, position.cost_basis]
        for value in amounts:
            if value is None:
                continue
            exact = money.to_decimal(value)
            if exact != exact.quantize(exponent):
                raise SnapshotError(
                    f"{value} has more than {money.AMOUNT_PLACES} decimal places; "
                    "round it where it is produced (money.quantize)"
                )


@dataclass(frozen=True)
class Removed:
    """What `remove_snapshots` deleted."""

    snapshots: int
    positions: int
    first_day: date | None
    last_day: date | None
    accounts: tuple[int, ...]


def remove_snapshots(
    connection: Connection,
    user_id: int,
    first: date,
    last: date,
    account_ids: Sequence[int] | None = None,
    *,
    dry_run: bool = False,
) -> Removed:
    """Delete the user's snapshots of [first, last] (of `account_ids`, else all their
    accounts) with their positions and the sync state of those days, in the caller's
    transaction, and record a mart change from the earliest day removed so the marts are
    rebuilt from it. Another user's accounts are never touched."""
    owned = select(financial_accounts.c.id).where(financial_accounts.c.user_id == user_id)
    if account_ids is not None:
        owned = owned.where(financial_accounts.c.id.in_(list(account_ids)))
    chosen = (
        select(
            account_snapshots.c.id,
            account_snapshots.c.account_id,
            account_snapshots.c.snapshot_date,
        )
        .where(account_snapshots.c.account_id.in_(owned))
        .where(account_snapshots.c.snapshot_date.between(first, last))
    )
    rows = connection.execute(chosen).all()
    ids = [row.id for row in rows]
    positions = 0
    if ids:
        positions = connection.execute(
            select(func.count())
            .select_from(portfolio_positions)
            .where(portfolio_positions.c.snapshot_id.in_(ids))
        ).scalar_one()
    days = [row.snapshot_date for row in rows]
    removed = Removed(
        snapshots=len(ids),
        positions=int(positions),
        first_day=min(days) if days else None,
        last_day=max(days) if days else None,
        accounts=tuple(sorted({row.account_id for row in rows})),
    )
    if dry_run or not ids:
        return removed
    for offset in range(0, len(ids), 500):
        batch = ids[offset : offset + 500]
        connection.execute(
            delete(portfolio_positions).where(portfolio_positions.c.snapshot_id.in_(batch))
        )
        connection.execute(delete(account_snapshots).where(account_snapshots.c.id.in_(batch)))
    # A sync retry skips days recorded as done: removed days can be synced again.
    connection.execute(
        delete(account_sync_state)
        .where(account_sync_state.c.account_id.in_(removed.accounts))
        .where(account_sync_state.c.sync_date.between(first, last))
    )
    assert removed.first_day is not None
    record_mart_change(connection, user_id, removed.first_day, "snapshots removed")
    return removed
