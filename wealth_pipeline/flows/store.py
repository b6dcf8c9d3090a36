"""The one way cash flows are written, listed and removed.

`write_flows` in the caller's transaction:
- checks every flow (kind, sign, currency, at most 4 places) before writing any;
- is idempotent for flows with an `external_id` (the service's id): a re-sync updates the
  stored row instead of adding a second one;
- converts each amount into the owner's base currency at the flow day's rate, by the same
  lookup (`fx.lookup.RateBook`) and with the same provisional rule as snapshots (a flow
  converted at an older day's rate is reconverted when its own day's rate arrives:
  `convert_flows`); without a rate the base amount stays NULL with the reason;
- stores raw service data only redacted (`brokers.redact`);
- extends the account's coverage (the days whose flows are known complete) when asked;
- pairs transfers between the owner's own accounts (`pairing.pair_transfers`) and records the
  earliest changed day for the marts.

Signs: money into the account is positive. Deposits, transfers in are positive; withdrawals,
transfers out, fees and taxes negative (given positive, they are negated); dividends,
interest and `other` may be either (a reversed dividend, negative interest).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import Connection, and_, delete, func, or_, select, update

from wealth_pipeline import clock, money
from wealth_pipeline.brokers.redact import storable
from wealth_pipeline.fx.lookup import RateBook
from wealth_pipeline.marts.changes import record_mart_change
from wealth_pipeline.snapshots.store import base_currency_of
from wealth_pipeline.warehouse.schema import (
    FLOW_KINDS,
    FLOW_SOURCES,
    cash_flow_coverage,
    cash_flows,
    financial_accounts,
    profiles,
)

EXTERNAL_KINDS = ("deposit", "withdrawal", "transfer_in", "transfer_out", "other")
INCOME_KINDS = ("dividend", "interest")
COST_KINDS = ("fee", "tax")
TRANSFER_KINDS = ("transfer_in", "transfer_out")
OUTFLOW_KINDS = ("withdrawal", "transfer_out", "fee", "tax")
INFLOW_KINDS = ("deposit", "transfer_in")
MAX_AMOUNT = Decimal("1e13")
PROVISIONAL_DAYS = timedelta(days=30)


class FlowError(ValueError):
    """A flow that cannot be written as given; the message says which and why."""


@dataclass(frozen=True)
class NewFlow:
    flow_date: date
    amount: Decimal
    kind: str
    currency: str | None = None  # the account's currency when None
    external_id: str | None = None
    description: str = ""
    raw_data: Mapping[str, Any] | None = None


@dataclass
class FlowsWritten:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    unconverted: list[str] = field(default_factory=list)  # reasons
    paired: int = 0

    def describe(self) -> str:
        text = f"{self.inserted} new, {self.updated} updated, {self.unchanged} unchanged"
        if self.paired:
            text += f", {self.paired} transfer(s) paired"
        if self.unconverted:
            text += f"; {len(self.unconverted)} not converted yet ({self.unconverted[0]})"
        return text


def signed_amount(kind: str, amount: Decimal) -> Decimal:
    """The stored sign for `kind` (outflows negative, inflows positive); FlowError otherwise."""
    if kind not in FLOW_KINDS:
        raise FlowError(f"unknown kind {kind!r}: one of {', '.join(FLOW_KINDS)}")
    if kind in OUTFLOW_KINDS:
        return -abs(amount)
    if kind in INFLOW_KINDS:
        if amount < 0:
            raise FlowError(f"a {kind} is money coming in: {amount} must not be negative")
        return amount
    return amount


def parse_amount(text: Any) -> Decimal:
    """An exact amount from text or a number (no floats), at most 4 places."""
    if isinstance(text, float):
        raise FlowError("amounts must be exact (text or Decimal), not a float")
    try:
        value = money.to_decimal(text) if not isinstance(text, str) else Decimal(text.strip())
    except (InvalidOperation, ValueError, TypeError):
        raise FlowError(f"{text!r} is not an amount") from None
    if not value.is_finite():
        raise FlowError(f"{text!r} is not an amount")
    if value != money.quantize(value, money.AMOUNT_PLACES):
        raise FlowError(f"{text} has more than {money.AMOUNT_PLACES} decimal places")
    if abs(value) >= MAX_AMOUNT:
        raise FlowError(f"{text} is out of range")
    return money.quantize(value, money.AMOUNT_PLACES)


def check_flow(flow: NewFlow, account_currency: str) -> NewFlow:
    """The flow with its sign and currency settled; FlowError if it cannot be stored."""
    amount = parse_amount(flow.amount)
    amount = signed_amount(flow.kind, amount)
    currency = (flow.currency or account_currency).upper()
    if currency != account_currency.upper():
        raise FlowError(
            f"the flow is in {currency} but the account is in {account_currency}: "
            "enter it in the account's currency"
        )
    if flow.external_id is not None and not (0 < len(flow.external_id) <= 200):
        raise FlowError("an external id has 1 to 200 characters")
    return NewFlow(
        flow.flow_date,
        amount,
        flow.kind,
        currency,
        flow.external_id,
        (flow.description or "")[:2000],
        flow.raw_data,
    )


def _account(connection: Connection, account_id: int) -> Mapping[str, Any]:
    row = (
        connection.execute(
            select(
                financial_accounts.c.id,
                financial_accounts.c.user_id,
                financial_accounts.c.currency,
            ).where(financial_accounts.c.id == account_id)
        )
        .mappings()
        .first()
    )
    if row is None:
        raise FlowError(f"no account {account_id}")
    return row


def write_flows(
    connection: Connection,
    account_id: int,
    flows: Sequence[NewFlow],
    *,
    source: str,
    covered: tuple[date, date] | None = None,
    secrets: Sequence[str] = (),
    pair: bool = True,
) -> FlowsWritten:
    """Write `flows` of one account (all or nothing: the caller's transaction). `covered`
    declares the days whose flows these are completely (extends the account's coverage)."""
    if source not in FLOW_SOURCES:
        raise FlowError(f"unknown source {source!r}")
    account = _account(connection, account_id)
    checked = [check_flow(flow, account["currency"]) for flow in flows]
    ids = [f.external_id for f in checked if f.external_id is not None]
    if len(ids) != len(set(ids)):
        raise FlowError("the same external id appears twice in one batch")
    report = FlowsWritten()
    base = base_currency_of(connection, account["user_id"])
    days = [f.flow_date for f in checked]
    book = (
        RateBook.load(connection, min(days), max(days), {account["currency"], base})
        if days
        else None
    )
    existing: dict[str, Any] = {}
    if ids:
        for row in connection.execute(
            select(cash_flows).where(
                cash_flows.c.account_id == account_id, cash_flows.c.external_id.in_(ids)
            )
        ).mappings():
            existing[row["external_id"]] = row
    changed: list[date] = []
    for flow in checked:
        values = {
            "account_id": account_id,
            "flow_date": flow.flow_date,
            "amount": flow.amount,
            "currency": flow.currency,
            "kind": flow.kind,
            "source": source,
            "external_id": flow.external_id,
            "description": flow.description,
            "raw_data": storable(dict(flow.raw_data), secrets) if flow.raw_data else None,
            **_conversion(book, flow.amount, flow.currency, base, flow.flow_date, report),
        }
        old = existing.get(flow.external_id) if flow.external_id else None
        if old is None:
            connection.execute(cash_flows.insert().values(**values))
            report.inserted += 1
            changed.append(flow.flow_date)
            continue
        keys = ("flow_date", "amount", "kind", "description", "amount_base_currency")
        if all(old[key] == values[key] for key in keys):
            report.unchanged += 1
            continue
        connection.execute(
            update(cash_flows)
            .where(cash_flows.c.id == old["id"])
            .values(**values, paired_flow_id=None)
        )
        _unpair(connection, [old["id"]])
        report.updated += 1
        changed += [flow.flow_date, old["flow_date"]]
    if covered is not None:
        extend_coverage(connection, account_id, *covered)
        changed.append(covered[0])
    if pair and changed:
        from wealth_pipeline.flows.pairing import pair_transfers

        report.paired = pair_transfers(connection, account["user_id"], since=min(changed))
    if changed:
        record_mart_change(connection, account["user_id"], min(changed), "cash flows written")
    return report


def _conversion(
    book: RateBook | None,
    amount: Decimal,
    currency: str,
    base: str,
    day: date,
    report: FlowsWritten | None = None,
) -> dict[str, Any]:
    found = book.rate(currency, base, day) if book is not None else None
    if not found:
        reason = getattr(found, "reason", "no rate")
        if report is not None:
            report.unconverted.append(reason)
        return {
            "base_currency": base,
            "amount_base_currency": None,
            "exchange_rate_used": None,
            "rate_date": None,
            "conversion_note": reason,
        }
    return {
        "base_currency": base,
        "amount_base_currency": found.convert(amount),
        "exchange_rate_used": found.rate,
        "rate_date": found.rate_date,
        "conversion_note": None,
    }


def convert_flows(connection: Connection, user_ids: Sequence[int] | None = None) -> int:
    """Convert flows not converted into their owner's current base currency, and reconvert
    provisional ones (converted at an older day's rate) whose day now has a newer rate.
    Returns how many rows changed; records the marts' changed days."""
    base = func.coalesce(profiles.c.base_currency, "EUR")
    query = (
        select(
            cash_flows.c.id,
            cash_flows.c.flow_date,
            cash_flows.c.amount,
            cash_flows.c.currency,
            base.label("base"),
            financial_accounts.c.user_id,
            cash_flows.c.amount_base_currency,
            cash_flows.c.rate_date,
            cash_flows.c.base_currency,
        )
        .join(financial_accounts, financial_accounts.c.id == cash_flows.c.account_id)
        .outerjoin(profiles, profiles.c.user_id == financial_accounts.c.user_id)
        .where(
            or_(
                cash_flows.c.amount_base_currency.is_(None),
                cash_flows.c.base_currency.is_(None),
                cash_flows.c.base_currency != base,
                # provisional (an older day's rate): only recent days can still get theirs
                and_(
                    cash_flows.c.rate_date < cash_flows.c.flow_date,
                    cash_flows.c.flow_date >= clock.today() - PROVISIONAL_DAYS,
                ),
            )
        )
    )
    if user_ids is not None:
        query = query.where(financial_accounts.c.user_id.in_(list(user_ids)))
    rows = connection.execute(query).all()
    if not rows:
        return 0
    currencies = {r.currency for r in rows} | {r.base for r in rows}
    book = RateBook.load(
        connection, min(r.flow_date for r in rows), max(r.flow_date for r in rows), currencies
    )
    changed: dict[int, date] = {}
    count = 0
    for row in rows:
        values = _conversion(book, row.amount, row.currency, row.base, row.flow_date)
        same = (
            values["amount_base_currency"] == row.amount_base_currency
            and values["rate_date"] == row.rate_date
            and row.base_currency == row.base
        )
        if same:
            continue
        connection.execute(update(cash_flows).where(cash_flows.c.id == row.id).values(**values))
        count += 1
        changed[row.user_id] = min(row.flow_date, changed.get(row.user_id, date.max))
    for user_id, day in changed.items():
        record_mart_change(connection, user_id, day, "cash flows converted")
    return count


def extend_coverage(connection: Connection, account_id: int, start: date, end: date) -> None:
    """The account's flows are known complete from `start` through `end`: joined with the
    span covered before when they touch or overlap; after a gap the new span replaces it (the
    days between are unknown), an older span apart from it is ignored. One span per account."""
    if start > end:
        raise FlowError(f"coverage from {start} after {end}")
    old = connection.execute(
        select(cash_flow_coverage.c.covered_from, cash_flow_coverage.c.covered_through).where(
            cash_flow_coverage.c.account_id == account_id
        )
    ).first()
    if old is None:
        connection.execute(
            cash_flow_coverage.insert().values(
                account_id=account_id, covered_from=start, covered_through=end
            )
        )
        return
    one_day = timedelta(days=1)
    if start > old[1] + one_day:
        span = (start, end)  # a gap: the days between are unknown, the newer span counts
    elif end < old[0] - one_day:
        span = (old[0], old[1])  # an older span apart from the current one: keep the current
    else:
        span = (min(old[0], start), max(old[1], end))
    connection.execute(
        update(cash_flow_coverage)
        .where(cash_flow_coverage.c.account_id == account_id)
        .values(covered_from=span[0], covered_through=span[1])
    )


def coverage(connection: Connection, account_id: int) -> tuple[date, date] | None:
    row = connection.execute(
        select(cash_flow_coverage.c.covered_from, cash_flow_coverage.c.covered_through).where(
            cash_flow_coverage.c.account_id == account_id
        )
    ).first()
    return (row[0], row[1]) if row else None


def clear_coverage(connection: Connection, account_id: int) -> None:
    connection.execute(
        delete(cash_flow_coverage).where(cash_flow_coverage.c.account_id == account_id)
    )


def _unpair(connection: Connection, flow_ids: Sequence[int]) -> None:
    if flow_ids:
        connection.execute(
            update(cash_flows)
            .where(cash_flows.c.paired_flow_id.in_(list(flow_ids)))
            .values(paired_flow_id=None)
        )


def list_flows(
    connection: Connection,
    user_id: int,
    *,
    account_id: int | None = None,
    start: date | None = None,
    end: date | None = None,
    limit: int | None = None,
) -> list[Mapping[str, Any]]:
    """The user's flows, newest first (with the account's name)."""
    conditions = [financial_accounts.c.user_id == user_id]
    if account_id is not None:
        conditions.append(cash_flows.c.account_id == account_id)
    if start is not None:
        conditions.append(cash_flows.c.flow_date >= start)
    if end is not None:
        conditions.append(cash_flows.c.flow_date <= end)
    query = (
        select(
            cash_flows.c.id,
            cash_flows.c.account_id,
            financial_accounts.c.name.label("account_name"),
            cash_flows.c.flow_date,
            cash_flows.c.amount,
            cash_flows.c.currency,
            cash_flows.c.kind,
            cash_flows.c.source,
            cash_flows.c.external_id,
            cash_flows.c.description,
            cash_flows.c.base_currency,
            cash_flows.c.amount_base_currency,
            cash_flows.c.exchange_rate_used,
            cash_flows.c.rate_date,
            cash_flows.c.conversion_note,
            cash_flows.c.paired_flow_id,
        )
        .join(financial_accounts, financial_accounts.c.id == cash_flows.c.account_id)
        .where(and_(*conditions))
        .order_by(cash_flows.c.flow_date.desc(), cash_flows.c.id.desc())
    )
    if limit is not None:
        query = query.limit(limit)
    return list(connection.execute(query).mappings())


def remove_flow(connection: Connection, user_id: int, flow_id: int) -> Mapping[str, Any]:
    """Delete one of the user's flows (its transfer partner is unpaired); the removed row."""
    found = (
        connection.execute(
            select(cash_flows.c.id, cash_flows.c.flow_date, cash_flows.c.account_id)
            .join(financial_accounts, financial_accounts.c.id == cash_flows.c.account_id)
            .where(cash_flows.c.id == flow_id, financial_accounts.c.user_id == user_id)
        )
        .mappings()
        .first()
    )
    if found is None:
        raise FlowError(f"no cash flow {flow_id} of this user")
    _unpair(connection, [flow_id])
    connection.execute(delete(cash_flows).where(cash_flows.c.id == flow_id))
    record_mart_change(connection, user_id, found["flow_date"], "cash flow removed")
    return found
