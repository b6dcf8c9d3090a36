"""What a conversion run reports: the snapshots it converted, and those it left, with why.

Apart from the code that fills it (`convert`, `in_database`, `in_sqlite`), so each of them
and the surfaces that show a report (the CLI, the Dagster job) import it without the others.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any

_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


@dataclass(frozen=True)
class Skipped:
    """A snapshot left unconverted, and the rate lookup's reason."""

    snapshot_id: int
    user_id: int
    day: date
    currency: str
    base_currency: str
    reason: str


@dataclass
class ConversionReport:
    """What a conversion run did (or, in a dry run, would do)."""

    fixed: int = 0  # snapshots given a base-currency amount
    refreshed: int = 0  # provisional conversions given the day's own (newer) rate
    positions_fixed: int = 0
    flows_fixed: int = 0  # cash flows converted or reconverted (`flows.store.convert_flows`)
    skipped: list[Skipped] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # per snapshot or position, with its id
    selected: int = 0
    dry_run: bool = False
    earliest_by_user: dict[int, date] = field(default_factory=dict)

    def skipped_reasons(self) -> list[tuple[str, int, date, date]]:
        """Skipped snapshots grouped by reason: (reason, count, first day, last day).

        The snapshot's own day in a reason reads `<day>`, so one gap is one group.
        """
        groups: dict[str, list[date]] = {}
        for item in self.skipped:
            key = _ISO_DAY.sub(
                lambda m, day=item.day: "<day>" if m.group() == day.isoformat() else m.group(),
                item.reason,
            )
            groups.setdefault(key, []).append(item.day)
        ordered = sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0]))
        return [(reason, len(days), min(days), max(days)) for reason, days in ordered]

    def as_metadata(self) -> dict[str, Any]:
        """Counts and grouped reasons (reasons hold currencies and days, never secrets)."""
        return {
            "selected": self.selected,
            "fixed": self.fixed,
            "refreshed": self.refreshed,
            "positions_fixed": self.positions_fixed,
            "flows_fixed": self.flows_fixed,
            "skipped": len(self.skipped),
            "errors": len(self.errors),
            "skipped_reasons": {
                reason: count for reason, count, _first, _last in self.skipped_reasons()[:20]
            },
            "error_samples": self.errors[:10],
            "dry_run": self.dry_run,
        }
