"""What a rate source answers: the rates published in a window, and what it knows beyond.

Apart from the sources (Dagster resources) so the store and the asset's pure steps take it
without importing Dagster.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from wealth_pipeline.fx.ecb_file import DailyRates


@dataclass(frozen=True)
class PublishedRates:
    source: str
    start: date
    end: date
    days: DailyRates  # only days within [start, end]
    latest_day: date | None  # the newest day the source has, possibly after `end`
    earliest_day: date | None = None  # the oldest day the source has, possibly before `start`
    requests: int = 0
    currencies: frozenset[str] = field(default_factory=frozenset)
    # Why days after `latest_day` could not be asked for (offline, no network): they are
    # skipped with this sentence instead of failing.
    unreachable: str | None = None
