"""The conversion sensor's one question: has anything unconverted become convertible?

A snapshot on day D converts once the ECB rates it needs exist on a day in [D - 14, D]
(`fx.lookup.LOOKBACK`). The sensor remembers the highest `exchange_rates.id` and
`account_snapshots.id` it has seen (its cursor) and asks, in one query, whether an
unconverted snapshot has a rate row of its currency or its owner's base currency in that
window that is newer than the cursor (or is itself newer). Snapshots whose rate cannot exist
(unknown currency, before the first ECB day, a gap in the ECB's own series) never get such
a row, so they never fire it again: their reason stays in `conversion_note`.

A converted snapshot is *provisional* when a rate the lookup now prefers exists: one of its
currency or its owner's base currency dated after the `rate_date` it was converted at and on
or before its own day (the day's rate arrived after the sync converted it at the previous
business day's). A weekend snapshot at Friday's rate has no such row and stays as it is; one
converted at its own day's rate never qualifies. The same query fires for provisional
snapshots of a rate row newer than the cursor, driven from the days of those few new rate
rows (the snapshot lies in [rate day, rate day + 14), through
`ix_account_snapshots_provisional`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, and_, exists, func, or_, select

from wealth_pipeline.fx.lookup import LOOKBACK
from wealth_pipeline.money import DEFAULT_BASE_CURRENCY
from wealth_pipeline.warehouse import dialect
from wealth_pipeline.warehouse.schema import (
    account_snapshots,
    exchange_rates,
    financial_accounts,
    profiles,
)


@dataclass(frozen=True)
class Watermark:
    """The highest rate and snapshot ids seen; 0 before anything."""

    rates: int = 0
    snapshots: int = 0

    def to_cursor(self) -> str:
        return json.dumps({"rates": self.rates, "snapshots": self.snapshots})

    @classmethod
    def from_cursor(cls, cursor: str | None) -> Watermark:
        if not cursor:
            return cls()
        try:
            data = json.loads(cursor)
            return cls(int(data.get("rates", 0)), int(data.get("snapshots", 0)))
        except (ValueError, TypeError, AttributeError):
            return cls()  # an unreadable cursor: look at everything once


def provisional(base: Any) -> Any:
    """Whether a snapshot (of `account_snapshots`, its owner's base currency `base`) was
    converted at an older rate than one that now exists for its day."""
    s, r = account_snapshots, exchange_rates
    return and_(
        s.c.balance_base_currency.is_not(None),
        s.c.rate_date < s.c.snapshot_date,
        exists().where(
            r.c.base_currency == "EUR",
            r.c.quote_currency.in_([s.c.currency, base]),
            r.c.rate_date > s.c.rate_date,
            r.c.rate_date <= s.c.snapshot_date,
        ),
    )


def check_pending(connection: Connection, seen: Watermark) -> tuple[Watermark, bool]:
    """The new watermark, and whether something unconverted may now convert, or something
    provisional be refreshed (one query)."""
    s, r = account_snapshots, exchange_rates
    base = func.coalesce(profiles.c.base_currency, DEFAULT_BASE_CURRENCY)
    rate_arrived = exists().where(
        and_(
            r.c.base_currency == "EUR",
            r.c.quote_currency.in_([s.c.currency, base]),
            r.c.rate_date <= s.c.snapshot_date,
            r.c.rate_date >= dialect.add_days(connection, s.c.snapshot_date, -LOOKBACK.days),
            or_(r.c.id > seen.rates, s.c.id > seen.snapshots),
        )
    )
    convertible = (
        select(s.c.id)
        .select_from(s)
        .join(financial_accounts, financial_accounts.c.id == s.c.account_id)
        .outerjoin(profiles, profiles.c.user_id == financial_accounts.c.user_id)
        .where(s.c.balance_base_currency.is_(None), rate_arrived)
        .exists()
    )
    # Provisional snapshots, driven from the days of the new rate rows (one day per tick
    # normally): a snapshot converted before day D's rate lies in [D, D + LOOKBACK).
    new_days = (
        select(r.c.rate_date.label("day"))
        .where(r.c.id > seen.rates, r.c.base_currency == "EUR")
        .distinct()
        .subquery("new_days")
    )
    newer_rate = exists().where(
        r.c.base_currency == "EUR",
        r.c.quote_currency.in_([s.c.currency, base]),
        r.c.rate_date > s.c.rate_date,
        r.c.rate_date <= s.c.snapshot_date,
        r.c.id > seen.rates,
    )
    refreshable = (
        select(s.c.id)
        .select_from(new_days)
        .join(
            s,
            and_(
                s.c.snapshot_date >= new_days.c.day,
                s.c.snapshot_date < dialect.add_days(connection, new_days.c.day, LOOKBACK.days),
                s.c.rate_date < s.c.snapshot_date,
                s.c.rate_date < new_days.c.day,
            ),
        )
        .join(financial_accounts, financial_accounts.c.id == s.c.account_id)
        .outerjoin(profiles, profiles.c.user_id == financial_accounts.c.user_id)
        .where(s.c.balance_base_currency.is_not(None), newer_rate)
        .exists()
    )
    query = select(
        select(func.coalesce(func.max(r.c.id), 0)).scalar_subquery(),
        select(func.coalesce(func.max(s.c.id), 0)).scalar_subquery(),
        convertible,
        refreshable,
    )
    rates_max, snapshots_max, found, stale = connection.execute(query).one()
    watermark = Watermark(max(int(rates_max), seen.rates), max(int(snapshots_max), seen.snapshots))
    return watermark, bool(found) or bool(stale)
