"""Which converted snapshots are provisional, so that a re-derivation refreshes them.

A snapshot on day D converts at the newest ECB rate in [D - 14, D] (`fx.lookup.LOOKBACK`).
A converted snapshot is *provisional* when a rate the lookup now prefers exists: one of its
currency or its owner's base currency dated after the `rate_date` it was converted at and on
or before its own day (the day's rate arrived after the sync converted it at the previous
business day's). A weekend snapshot at Friday's rate has no such row and stays as it is; one
converted at its own day's rate never qualifies. Dagster knows which days a late rate
concerns (`converted_snapshots`' partition mapping), so a refresh looks at those days only.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, exists

from wealth_pipeline.warehouse.schema import (
    account_snapshots,
    exchange_rates,
)


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
