"""Set-based conversion of stored snapshots (and their positions) into owners' base currencies.

Every rate comes from one `RateBook` (once per currency pair and day); a snapshot without a rate keeps NULL amounts and
gets the lookup's reason in `conversion_note`; it is never converted at a stand-in 1.0.

- PostgreSQL (`conversions.in_database`): the rates go into a temporary table and one
  `UPDATE ... FROM` per table computes the amounts in exact NUMERIC, rounded half-even:
  the rows never leave the server.
- SQLite, a whole reconversion (a base-currency change; `only_missing=False`):
  `conversions.in_sqlite`, the same rate table and one `UPDATE ... FROM` per table, the
  scaled-integer products computed exactly in two 64-bit limbs in SQL: memory stays flat.
- SQLite otherwise (the few missing or provisional rows of a day; amounts too large for the
  limbs): one query selects the rows, the amounts are computed in Python (exact, half-even,
  as `FxRate.convert`), and one `executemany` UPDATE per table writes them back.

Rows travel as plain tuples: per-row objects would cost more than the conversion itself at a
million rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, bindparam, func, or_, select, update

from wealth_pipeline import money
from wealth_pipeline.conversions.in_database import convert_in_database
from wealth_pipeline.conversions.in_sqlite import fits, reconvert_in_sqlite
from wealth_pipeline.conversions.pending import provisional
from wealth_pipeline.conversions.report import ConversionReport, Skipped
from wealth_pipeline.flows.store import convert_flows
from wealth_pipeline.fx.lookup import FxRate, NoRate, RateBook
from wealth_pipeline.marts.changes import record_mart_change
from wealth_pipeline.money import DEFAULT_BASE_CURRENCY
from wealth_pipeline.warehouse import dialect
from wealth_pipeline.warehouse.schema import (
    account_snapshots,
    financial_accounts,
    portfolio_positions,
    profiles,
)


def convert_amount(amount: Decimal, rate: Decimal) -> Decimal:
    """`amount * rate` rounded once, half-even, to 4 places (as `FxRate.convert`, faster)."""
    return money.multiply(amount, rate, money.AMOUNT_PLACES)


def convert_price(price: Decimal, rate: Decimal) -> Decimal:
    """`price * rate` rounded once, half-even, to the price scale."""
    return money.multiply(price, rate, money.PRICE_PLACES)


class _Rates(dict[tuple[str, str, date], FxRate | NoRate]):
    """`book.rate` memoized per (from, to, day): a run asks the same few thousand questions
    for every account, and a cross rate is an exact division. Indexing is a plain
    dict lookup; only a miss asks the book."""

    def __init__(self, book: RateBook) -> None:
        super().__init__()
        self._book = book

    def __missing__(self, key: tuple[str, str, date]) -> FxRate | NoRate:
        found = self[key] = self._book.rate(*key)
        return found


# The writers' parameters, in tuple order.
_SNAPSHOT_PARAMS = ("sid", "base", "amount", "rate", "rate_day", "note")
_POSITION_PARAMS = ("pid", "price", "value", "rate")


def plan_snapshot_updates(
    rows: Iterable[Sequence[Any]],
    book: RateBook,
    report: ConversionReport,
    refresh: bool = False,
) -> list[tuple[Any, ...]]:
    """The UPDATE parameters for `rows` (pure: records fixes, skips and errors in `report`).

    `rows` are in `_select_snapshots`' column order; each update holds `_SNAPSHOT_PARAMS`.
    Rows whose stored values already equal the result are left out: re-running writes nothing.
    With `refresh` (an only-missing run), a row that already has an amount is a provisional
    conversion: counted as refreshed only when its values change.
    The loop runs once per snapshot, so it keeps to local names and tuples.
    """
    rates = _Rates(book)
    earliest = report.earliest_by_user
    fixed = refreshed = 0
    updates: list[tuple[Any, ...]] = []
    for sid, user_id, day, balance, currency, base, *stored, note in rows:
        found = rates[currency, base, day]
        if isinstance(found, NoRate):
            report.skipped.append(Skipped(sid, user_id, day, currency, base, found.reason))
            if stored[1] is None and note == found.reason:
                continue
            updates.append((sid, None, None, None, None, found.reason))
            continue
        try:
            amount = convert_amount(balance, found.rate)
        except ArithmeticError as error:
            report.errors.append(f"snapshot {sid}: {error}")
            continue
        new = [base, amount, found.rate, found.rate_date]
        unchanged = note is None and stored == new
        if refresh and stored[1] is not None:
            if unchanged:
                continue
            refreshed += 1
        else:
            fixed += 1
        if day < earliest.get(user_id, date.max):
            earliest[user_id] = day
        if unchanged:
            continue
        updates.append((sid, *new, None))
    report.fixed += fixed
    report.refreshed += refreshed
    return updates


def _scope(user_ids: Sequence[int] | None, start: date | None, end: date | None) -> list[Any]:
    conditions: list[Any] = []
    if user_ids is not None:
        conditions.append(financial_accounts.c.user_id.in_(list(user_ids)))
    if start is not None:
        conditions.append(account_snapshots.c.snapshot_date >= start)
    if end is not None:
        conditions.append(account_snapshots.c.snapshot_date <= end)
    return conditions


def _base_column():
    return func.coalesce(profiles.c.base_currency, DEFAULT_BASE_CURRENCY)


def _select_snapshots(
    connection: Connection,
    conditions: list[Any],
    only_missing: bool,
    limit: int | None,
) -> list[tuple[Any, ...]]:
    s = account_snapshots
    query = (
        select(
            s.c.id,
            financial_accounts.c.user_id,
            s.c.snapshot_date,
            s.c.balance,
            s.c.currency,
            _base_column(),
            s.c.base_currency,
            s.c.balance_base_currency,
            s.c.exchange_rate_used,
            s.c.rate_date,
            s.c.conversion_note,
        )
        .select_from(s)
        .join(financial_accounts, financial_accounts.c.id == s.c.account_id)
        .outerjoin(profiles, profiles.c.user_id == financial_accounts.c.user_id)
        .where(*conditions)
    )
    if only_missing:
        query = query.where(or_(s.c.balance_base_currency.is_(None), provisional(_base_column())))
    if limit is not None:
        query = query.order_by(s.c.snapshot_date, s.c.id).limit(limit)
    return _fetch(connection, query)


def _select_positions(
    connection: Connection,
    conditions: list[Any],
    only_missing: bool,
    snapshot_ids: list[int] | None,
) -> list[tuple[Any, ...]]:
    s, p = account_snapshots, portfolio_positions
    query = (
        select(
            p.c.id,
            financial_accounts.c.user_id,
            s.c.snapshot_date,
            p.c.currency,
            _base_column(),
            p.c.price_per_unit,
            p.c.market_value,
            p.c.price_base_currency,
            p.c.market_value_base_currency,
            p.c.exchange_rate_used,
        )
        .select_from(p)
        .join(s, s.c.id == p.c.snapshot_id)
        .join(financial_accounts, financial_accounts.c.id == s.c.account_id)
        .outerjoin(profiles, profiles.c.user_id == financial_accounts.c.user_id)
        .where(*conditions)
    )
    if only_missing:
        query = query.where(
            or_(p.c.market_value_base_currency.is_(None), provisional(_base_column()))
        )
    if snapshot_ids is not None:
        query = query.where(p.c.snapshot_id.in_(snapshot_ids))
    return _fetch(connection, query)


def _fetch(connection: Connection, query: Any) -> list[tuple[Any, ...]]:
    """The rows of `query` as tuples of exact Python values (through the column types)."""
    return [tuple(row) for row in connection.execute(query)]


def plan_position_updates(
    rows: Iterable[Sequence[Any]], book: RateBook, report: ConversionReport
) -> list[tuple[Any, ...]]:
    """UPDATE parameters for positions (`_POSITION_PARAMS`); without a rate they keep NULLs
    (not counted)."""
    rates = _Rates(book)
    updates: list[tuple[Any, ...]] = []
    for pid, user_id, day, currency, base, price, value, old_price, old_value, old_rate in rows:
        found = rates[currency, base, day]
        if isinstance(found, NoRate):
            values: tuple[Any, ...] = (None, None, None)
        else:
            try:
                values = (
                    None if price is None else convert_price(price, found.rate),
                    convert_amount(value, found.rate),
                    found.rate,
                )
            except ArithmeticError as error:
                report.errors.append(f"position {pid}: {error}")
                continue
            report.positions_fixed += 1
            previous = report.earliest_by_user.get(user_id)
            if previous is None or day < previous:
                report.earliest_by_user[user_id] = day
        if values == (old_price, old_value, old_rate):
            continue
        updates.append((pid, *values))
    return updates


def convert_snapshots(
    connection: Connection,
    *,
    user_ids: Sequence[int] | None = None,
    start: date | None = None,
    end: date | None = None,
    only_missing: bool = True,
    limit: int | None = None,
    dry_run: bool = False,
) -> ConversionReport:
    """Convert the selected snapshots and positions, in the caller's transaction.

    `only_missing` selects only those without a base-currency amount; False reconverts
    everything in scope (a base-currency change). `limit` caps the snapshots, oldest first.
    A dry run computes everything and writes nothing.
    """
    report = ConversionReport(dry_run=dry_run)
    if dialect.name(connection) == dialect.POSTGRESQL:
        convert_in_database(
            connection,
            report,
            user_ids=user_ids,
            start=start,
            end=end,
            only_missing=only_missing,
            limit=limit,
            dry_run=dry_run,
        )
    elif (
        dialect.is_sqlite(connection)
        and not only_missing
        and limit is None
        and fits(connection, user_ids, start, end)
    ):
        reconvert_in_sqlite(
            connection, report, user_ids=user_ids, start=start, end=end, dry_run=dry_run
        )
    else:
        _convert_in_python(connection, report, _scope(user_ids, start, end), only_missing, limit)
    if not dry_run:
        for user_id, day in sorted(report.earliest_by_user.items()):
            record_mart_change(connection, user_id, day, "snapshots converted")
        # Cash flows follow the same rates and rules (and a base-currency change).
        report.flows_fixed = convert_flows(connection, user_ids)
    return report


def _convert_in_python(
    connection: Connection,
    report: ConversionReport,
    conditions: list[Any],
    only_missing: bool,
    limit: int | None,
) -> None:
    """Read the rows, compute in Python, write back: SQLite (whose exact columns are scaled
    integers, so a product would overflow in SQL) and other databases."""
    snapshots = _select_snapshots(connection, conditions, only_missing, limit)
    limited_ids = [row[0] for row in snapshots] if limit is not None else None
    positions = _select_positions(connection, conditions, only_missing, limited_ids)
    report.selected = len(snapshots)
    days = [row[2] for row in snapshots] + [row[2] for row in positions]
    if not days:
        return
    currencies = {row[4] for row in snapshots} | {row[5] for row in snapshots}
    currencies |= {row[3] for row in positions} | {row[4] for row in positions}
    book = RateBook.load(connection, min(days), max(days), currencies)
    snapshot_updates = plan_snapshot_updates(snapshots, book, report, refresh=only_missing)
    position_updates = plan_position_updates(positions, book, report)
    if report.dry_run:
        return
    write_snapshot_updates(connection, snapshot_updates)
    write_position_updates(connection, position_updates)


def reconvert_user(connection: Connection, user_id: int) -> ConversionReport:
    """Reconvert all of one user's history (after a base-currency change), in one run."""
    return convert_snapshots(connection, user_ids=[user_id], only_missing=False)


# --- writing: one statement per table, whatever the number of rows ------------------------


def write_snapshot_updates(connection: Connection, updates: list[tuple[Any, ...]]) -> None:
    """Write `plan_snapshot_updates`' tuples in one UPDATE."""
    if not updates:
        return
    s = account_snapshots
    if dialect.is_sqlite(connection):
        # The driver's executemany with values already in storage form (scaled integers):
        # SQLAlchemy's per-row bind processing would cost more than the UPDATE itself.
        connection.exec_driver_sql(
            "UPDATE account_snapshots SET base_currency = ?, balance_base_currency = ?, "
            "exchange_rate_used = ?, rate_date = ?, conversion_note = ?, "
            "updated_at = CURRENT_TIMESTAMP WHERE id = ?",
            [
                (
                    base,
                    dialect.to_units(amount, money.AMOUNT_PLACES),
                    dialect.to_units(rate, money.RATE_PLACES),
                    None if rate_day is None else rate_day.isoformat(),
                    note,
                    sid,
                )
                for sid, base, amount, rate, rate_day, note in updates
            ],
        )
        return
    statement = (
        update(s)
        .where(s.c.id == bindparam("sid"))
        .values(
            base_currency=bindparam("base"),
            balance_base_currency=bindparam("amount", type_=s.c.balance_base_currency.type),
            exchange_rate_used=bindparam("rate", type_=s.c.exchange_rate_used.type),
            rate_date=bindparam("rate_day", type_=s.c.rate_date.type),
            conversion_note=bindparam("note"),
        )
    )
    connection.execute(
        statement, [dict(zip(_SNAPSHOT_PARAMS, row, strict=True)) for row in updates]
    )


def write_position_updates(connection: Connection, updates: list[tuple[Any, ...]]) -> None:
    """Write `plan_position_updates`' tuples in one UPDATE."""
    if not updates:
        return
    p = portfolio_positions
    statement = (
        update(p)
        .where(p.c.id == bindparam("pid"))
        .values(
            price_base_currency=bindparam("price", type_=p.c.price_base_currency.type),
            market_value_base_currency=bindparam(
                "value", type_=p.c.market_value_base_currency.type
            ),
            exchange_rate_used=bindparam("rate", type_=p.c.exchange_rate_used.type),
        )
    )
    connection.execute(
        statement, [dict(zip(_POSITION_PARAMS, row, strict=True)) for row in updates]
    )
