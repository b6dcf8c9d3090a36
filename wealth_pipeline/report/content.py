"""What the weekly report says, as plain values: pure functions over rows read from the marts.

Amounts stay `Decimal` as the marts hold them; ratios (changes in %, shares) are exact
`Fraction`s, rounded once when they are displayed. Nothing here reads the database, so every
rule (a zero start, a change across the year start, a new account) is tested directly.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any

CHART_DAYS = 365  # the net-worth chart: the last 12 months, or since the start when shorter
WEEK = 7


@dataclass(frozen=True)
class Change:
    """Net worth now against a reference day (or the first day there is, when later)."""

    label: str
    since: date | None  # the day compared with; None: no earlier day to compare with
    start: Decimal | None
    absolute: Decimal | None
    ratio: Fraction | None  # None when there is no start or it is zero
    partial: bool = False  # the history starts after the reference day
    # Set when the accounts counted changed between the two days: the change is then over
    # the accounts counted on both (`marts.coverage.like_for_like`) and this says who is out.
    note: str | None = None

    @property
    def available(self) -> bool:
        return self.absolute is not None


@dataclass(frozen=True)
class AccountLine:
    account_id: int
    name: str
    broker: str
    account_type: str
    currency: str
    balance: Decimal  # in the account's currency
    snapshot_date: date  # the snapshot carried to the report's day
    base_amount: Decimal | None  # None: not converted yet (left out of the total)
    share: Fraction | None
    weekly_change: Decimal | None  # None: new this week, or not converted on one of the days
    new: bool = False


@dataclass(frozen=True)
class Slice:
    label: str
    amount: Decimal
    share: Fraction | None


@dataclass(frozen=True)
class Notice:
    """A warning for the person: what is wrong, and what to do about it."""

    kind: str  # error | pending_auth | stale | unconverted | outdated
    subject: str  # the account(s) concerned; empty when it concerns all figures
    text: str
    action: str | None = None
    items: tuple[str, ...] = ()  # one line each, e.g. the accounts concerned


@dataclass(frozen=True)
class WeeklyReport:
    username: str
    base_currency: str
    as_of: date  # the marts' day the figures are for
    week: str  # ISO week the report belongs to, e.g. 2026-W49
    total: Decimal
    account_count: int
    unconverted_count: int
    changes: list[Change]
    history: list[tuple[date, Decimal]]  # the chart's points, oldest first
    accounts: list[AccountLine]
    by_asset_class: list[Slice]
    by_currency: list[Slice]
    allocation_as_of: date | None
    warnings: list[Notice] = field(default_factory=list)
    # "Where the change came from" this year: the total first, then each account
    # (`returns.periods.PeriodFigures`, with the account's name); empty without returns.
    where_from: list[tuple[str, Any]] = field(default_factory=list)
    # This week's projection (`projection.service.Projection`), None when there is none.
    projection: Any = None

    @property
    def weekly(self) -> Change:
        return self.changes[0]


def ratio(part: Decimal, whole: Decimal) -> Fraction | None:
    """`part / |whole|` exactly; None when `whole` is zero (no meaningful percentage)."""
    if whole == 0:
        return None
    return Fraction(part) / abs(Fraction(whole))


def value_on(days: Sequence[date], values: Sequence[Decimal], when: date) -> Decimal | None:
    """The value of the latest day on or before `when` (`days` sorted), None before the first."""
    index = bisect.bisect_right(days, when) - 1
    return values[index] if index >= 0 else None


def change(history: Mapping[date, Decimal], as_of: date, reference: date, label: str) -> Change:
    """Net worth on `as_of` minus net worth on `reference`.

    When the history starts after `reference`, the first day is compared with instead (and
    the change says so); with nothing earlier than `as_of` there is no change to show.
    """
    days = sorted(day for day in history if day <= as_of)
    if not days or days[0] >= as_of:
        return Change(label, None, None, None, None)
    values = [history[day] for day in days]
    now = values[-1]
    partial = reference < days[0]
    since = days[0] if partial else reference
    start = value_on(days, values, since)
    assert start is not None
    absolute = now - start
    return Change(label, since, start, absolute, ratio(absolute, start), partial)


def changes(history: Mapping[date, Decimal], as_of: date) -> list[Change]:
    """Over 7 days, 30 days and the year to date (against the last day of the previous year)."""
    return [
        change(history, as_of, as_of - timedelta(days=WEEK), "7 days"),
        change(history, as_of, as_of - timedelta(days=30), "30 days"),
        change(history, as_of, date(as_of.year - 1, 12, 31), f"Year to date ({as_of.year})"),
    ]


def chart_points(history: Mapping[date, Decimal], as_of: date) -> list[tuple[date, Decimal]]:
    first = as_of - timedelta(days=CHART_DAYS)
    return sorted((day, value) for day, value in history.items() if first <= day <= as_of)


@dataclass(frozen=True)
class AccountRow:
    """One account's value on the report's day and a week before (from mart_account_daily)."""

    account_id: int
    name: str
    broker: str
    account_type: str
    currency: str
    balance: Decimal
    snapshot_date: date
    base_amount: Decimal | None
    week_ago: Decimal | None
    existed_week_ago: bool


def account_lines(rows: Iterable[AccountRow], total: Decimal) -> list[AccountLine]:
    """Sorted by value (largest first; unconverted last), with share and weekly change."""
    lines = []
    for row in rows:
        weekly = None
        if row.base_amount is not None and row.existed_week_ago and row.week_ago is not None:
            weekly = row.base_amount - row.week_ago
        lines.append(
            AccountLine(
                account_id=row.account_id,
                name=row.name,
                broker=row.broker,
                account_type=row.account_type,
                currency=row.currency,
                balance=row.balance,
                snapshot_date=row.snapshot_date,
                base_amount=row.base_amount,
                share=None if row.base_amount is None else ratio(row.base_amount, total),
                weekly_change=weekly,
                new=not row.existed_week_ago,
            )
        )
    return sorted(
        lines,
        key=lambda line: (
            line.base_amount is None,
            -(line.base_amount or 0),
            line.name.casefold(),
            line.account_id,
        ),
    )


def humanize(category: str) -> str:
    """`fixed_income` -> `Fixed income`; names that are already display names stay."""
    if category and category == category.lower() and " " not in category:
        return category.replace("_", " ").capitalize()
    return category


def slices(amounts: Iterable[tuple[str, Decimal]]) -> list[Slice]:
    """Shares of the dimension's total, largest first."""
    items = list(amounts)
    whole = sum((amount for _, amount in items), Decimal(0))
    return sorted(
        (Slice(humanize(label), amount, ratio(amount, whole)) for label, amount in items),
        key=lambda s: (-s.amount, s.label.casefold()),
    )
