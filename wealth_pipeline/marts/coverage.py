"""Like for like: a change in net worth counts only the accounts counted on both days.

A total leaves out accounts without a base amount (no rate yet, an unknown currency) and of
course accounts that did not exist. When the accounts counted change between two days (an
account without a rate, one added or removed), the difference of the two totals is not a
gain or a loss: the demo's three foreign accounts losing their rate showed as -99.6 %. So a
change is measured over the accounts counted on both days, and a sentence says which were
left out and why ("3 accounts have no rate since 30 Oct: this week's change leaves them
out"). The API, the weekly report and `wealth summary` all use `like_for_like`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import Connection, and_, func, select, true

from wealth_pipeline.warehouse.schema import mart_account_daily, mart_net_worth_daily


@dataclass(frozen=True)
class CoverageChange:
    """Net worth on `end` against `start`, over the accounts counted on both days."""

    start: date
    end: date
    start_total: Decimal  # the accounts counted on both days, on `start`
    end_total: Decimal  # the same accounts on `end`
    no_rate: tuple[int, ...]  # counted on `start`, present but unconverted on `end`
    gone: tuple[int, ...]  # counted on `start`, absent on `end` (removed)
    added: tuple[int, ...]  # counted on `end`, not on `start` (new, or converted again)
    no_rate_since: date | None  # the last snapshot of the `no_rate` accounts with a rate
    counted_on_start: int = 0  # accounts counted on `start` (none: no change to show)

    @property
    def change(self) -> Decimal:
        return self.end_total - self.start_total

    @property
    def comparable(self) -> bool:
        """The same accounts are counted on both days: the totals' difference is the change."""
        return not (self.no_rate or self.gone or self.added)

    def sentence(self, what: str = "this week's change") -> str | None:
        """What the change leaves out, in one sentence; None when nothing is."""
        parts = []
        if self.no_rate:
            since = f" since {short_day(self.no_rate_since)}" if self.no_rate_since else ""
            parts.append(
                f"{_accounts(len(self.no_rate))} {_have(len(self.no_rate))} no rate{since}"
            )
        if self.gone:
            parts.append(f"{_accounts(len(self.gone))} {_was(len(self.gone))} removed")
        if self.added:
            parts.append(
                f"{_accounts(len(self.added))} {_was(len(self.added))} not counted on "
                f"{short_day(self.start)}"
            )
        if not parts:
            return None
        out = len(self.no_rate) + len(self.gone) + len(self.added)
        return f"{'; '.join(parts)}: {what} leaves {'it' if out == 1 else 'them'} out"


def short_day(day: date) -> str:
    return f"{day.day} {day.strftime('%b')}"


def _accounts(count: int) -> str:
    return f"{count} account" + ("" if count == 1 else "s")


def _have(count: int) -> str:
    return "has" if count == 1 else "have"


def _was(count: int) -> str:
    return "was" if count == 1 else "were"


def figures_days(
    connection: Connection, user_id: int, up_to: date | None = None
) -> tuple[date, date] | None:
    """The marts' latest day for the user (up to `up_to`) and the day their figures are as
    of: the newest snapshot carried on that day, when older. The days after it only carry the
    same values forward (an account not synced, the demo offline after the rates stop), so
    changes and charts end there instead of on days where nothing moved. None: no figures.
    """
    nw = mart_net_worth_daily
    mart_day = connection.execute(
        select(func.max(nw.c.day)).where(
            nw.c.user_id == user_id, nw.c.day <= up_to if up_to is not None else true()
        )
    ).scalar()
    if mart_day is None:
        return None
    newest = connection.execute(
        select(func.max(mart_account_daily.c.snapshot_date)).where(
            mart_account_daily.c.user_id == user_id, mart_account_daily.c.day == mart_day
        )
    ).scalar()
    return mart_day, min(mart_day, newest or mart_day)


def like_for_like(
    connection: Connection, user_id: int, start: date, end: date
) -> CoverageChange | None:
    """The change from `start` to `end` over the accounts counted on both days (from
    `mart_account_daily`); None when the marts hold nothing for the user on `end`."""
    table = mart_account_daily
    rows = connection.execute(
        select(table.c.day, table.c.account_id, table.c.balance_base_currency).where(
            and_(table.c.user_id == user_id, table.c.day.in_([start, end]))
        )
    ).all()
    on_start = {row.account_id: row.balance_base_currency for row in rows if row.day == start}
    on_end = {row.account_id: row.balance_base_currency for row in rows if row.day == end}
    if not on_end:
        return None
    counted_start = {account for account, value in on_start.items() if value is not None}
    counted_end = {account for account, value in on_end.items() if value is not None}
    both = counted_start & counted_end
    no_rate = sorted(a for a in counted_start - counted_end if a in on_end)
    gone = sorted(a for a in counted_start - counted_end if a not in on_end)
    added = sorted(counted_end - counted_start)
    since = None
    if no_rate:
        since = connection.execute(
            select(func.max(table.c.snapshot_date)).where(
                and_(
                    table.c.user_id == user_id,
                    table.c.account_id.in_(no_rate),
                    table.c.day <= end,
                    table.c.balance_base_currency.is_not(None),
                )
            )
        ).scalar()
    zero = Decimal("0.0000")
    return CoverageChange(
        start=start,
        end=end,
        start_total=sum((on_start[a] for a in both), zero),
        end_total=sum((on_end[a] for a in both), zero),
        no_rate=tuple(no_rate),
        gone=tuple(gone),
        added=tuple(added),
        no_rate_since=since,
        counted_on_start=len(counted_start),
    )
