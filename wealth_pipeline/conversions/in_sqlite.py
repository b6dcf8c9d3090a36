"""Reconversion on SQLite in the database: scaled-integer arithmetic in SQL, set-based.

SQLite stores exact values as 64-bit integers of 10^-places units (`warehouse.types`). A
converted amount is `round_half_even(amount_units * rate_units / 10^12)` (the rate has 12
places, so amounts keep 4 and prices 10), and that product overflows 64 bits. `multiply()`
computes it in two limbs of 10^6, never beyond 64 bits for any value whose result fits:

    a = a1·10^6 + a0,  r = r1·10^6 + r0,  m = a1·r0 + a0·r1 = m1·10^6 + m0
    a·r / 10^12 = a1·r1 + m1 + (m0·10^6 + a0·r0) / 10^12

the last quotient's remainder (< 10^12) decides the rounding, ties to the even neighbour, the
sign applied to the magnitude (as `money.multiply`). Rows whose product could leave 64 bits
are refused by a guard up front; the caller then converts in Python.

Used for whole reconversions (a base-currency change, `conversions fix --all`): the rate of
every (currency, base, day) comes once from the one rate lookup into a temporary table, then
one `UPDATE ... FROM` per table writes the rows whose values change. No row passes through
Python, so memory stays flat whatever the history's length. The results equal
`convert.plan_snapshot_updates` / `plan_position_updates` (the money tests run both).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any

from sqlalchemy import Connection

from wealth_pipeline import money
from wealth_pipeline.conversions.report import ConversionReport, Skipped
from wealth_pipeline.fx.lookup import NoRate, RateBook
from wealth_pipeline.money import DEFAULT_BASE_CURRENCY

RATES = "conversion_rates_sqlite"
LIMB = 10**6
DIVISOR = 10**money.RATE_PLACES  # LIMB ** 2
HALF = DIVISOR // 2
BASE = f"coalesce(pr.base_currency, '{DEFAULT_BASE_CURRENCY}')"
SNAPSHOTS_FROM = (
    "account_snapshots s JOIN financial_accounts a ON a.id = s.account_id "
    "LEFT JOIN profiles pr ON pr.user_id = a.user_id"
)
POSITIONS_FROM = (
    "portfolio_positions p JOIN account_snapshots s ON s.id = p.snapshot_id "
    "JOIN financial_accounts a ON a.id = s.account_id "
    "LEFT JOIN profiles pr ON pr.user_id = a.user_id"
)
RATE_JOIN = "r.currency = {currency} AND r.base = " + BASE + " AND r.day = s.snapshot_date"
# What the guard admits: |units| below this, so every partial product stays in 64 bits.
SAFE_UNITS = 4 * 10**18


def multiply(amount: str, rate: str) -> str:
    """SQL: `amount * rate / 10^12` in units, rounded half-even, exact in 64-bit integers
    (NULL if either is NULL). `rate` is positive."""
    a = f"abs({amount})"
    a1, a0 = f"({a} / {LIMB})", f"({a} % {LIMB})"
    r1, r0 = f"({rate} / {LIMB})", f"({rate} % {LIMB})"
    m = f"({a1} * {r0} + {a0} * {r1})"
    low = f"(({m} % {LIMB}) * {LIMB} + {a0} * {r0})"
    quotient = f"({a1} * {r1} + {m} / {LIMB} + {low} / {DIVISOR})"
    remainder = f"({low} % {DIVISOR})"
    rounded = (
        f"({quotient} + CASE WHEN {remainder} > {HALF} "
        f"OR ({remainder} = {HALF} AND {quotient} % 2 = 1) THEN 1 ELSE 0 END)"
    )
    return f"(CASE WHEN {amount} < 0 THEN -{rounded} ELSE {rounded} END)"


def _scope(
    user_ids: Sequence[int] | None, start: date | None, end: date | None
) -> tuple[str, dict[str, Any]]:
    where = ["1 = 1"]
    params: dict[str, Any] = {}
    if user_ids is not None:
        where.append(f"a.user_id IN ({', '.join(str(int(u)) for u in user_ids) or 'NULL'})")
    if start is not None:
        where.append("s.snapshot_date >= :start")
        params["start"] = start.isoformat()
    if end is not None:
        where.append("s.snapshot_date <= :end")
        params["end"] = end.isoformat()
    return " AND ".join(where), params


def fits(
    connection: Connection, user_ids: Sequence[int] | None, start: date | None, end: date | None
) -> bool:
    """Whether every amount in scope is small enough for `multiply` (and no rate is)."""
    where, params = _scope(user_ids, start, end)
    outside = connection.exec_driver_sql(
        f"SELECT EXISTS (SELECT 1 FROM {SNAPSHOTS_FROM} WHERE {where} "
        f"AND abs(s.balance) >= {SAFE_UNITS}) OR EXISTS (SELECT 1 FROM {POSITIONS_FROM} "
        f"WHERE {where} AND (abs(p.market_value) >= {SAFE_UNITS} "
        f"OR abs(coalesce(p.price_per_unit, 0)) >= {SAFE_UNITS}))",
        params,
    ).scalar()
    return not outside


def _check_results(
    connection: Connection,
    where: str,
    params: dict[str, Any],
    snapshot_join: str,
    position_join: str,
) -> None:
    """Refuse (before writing) a result too large to store exactly, as the Python path's
    writer does; a floating-point estimate, only to decide, never stored."""
    limit = f"{float(2**63):.1f}"
    too_large = connection.exec_driver_sql(
        f"SELECT EXISTS (SELECT 1 FROM {SNAPSHOTS_FROM} JOIN {RATES} r ON {snapshot_join} "
        f"WHERE {where} AND abs(s.balance) * 1.0 * r.rate / {DIVISOR}.0 >= {limit}) "
        f"OR EXISTS (SELECT 1 FROM {POSITIONS_FROM} JOIN {RATES} r ON {position_join} "
        f"WHERE {where} AND (abs(p.market_value) * 1.0 * r.rate / {DIVISOR}.0 >= {limit} "
        f"OR abs(coalesce(p.price_per_unit, 0)) * 1.0 * r.rate / {DIVISOR}.0 >= {limit}))",
        params,
    ).scalar()
    if too_large:
        raise OverflowError("a converted amount is too large to store exactly: nothing written")


def reconvert_in_sqlite(
    connection: Connection,
    report: ConversionReport,
    *,
    user_ids: Sequence[int] | None,
    start: date | None,
    end: date | None,
    dry_run: bool,
) -> ConversionReport:
    """`convert.convert_snapshots(only_missing=False)` on SQLite, in the database."""
    where, params = _scope(user_ids, start, end)
    groups = connection.exec_driver_sql(
        f"SELECT {BASE}, s.currency, min(s.snapshot_date), max(s.snapshot_date), count(*) "
        f"FROM {SNAPSHOTS_FROM} WHERE {where} GROUP BY 1, 2 UNION ALL "
        f"SELECT {BASE}, p.currency, min(s.snapshot_date), max(s.snapshot_date), 0 "
        f"FROM {POSITIONS_FROM} WHERE {where} GROUP BY 1, 2",
        params,
    ).all()
    report.selected = sum(count for *_, count in groups)
    if not groups:
        return report
    spans: dict[tuple[str, str], tuple[date, date]] = {}
    for base, currency, first, last, _count in groups:
        lo, hi = date.fromisoformat(first), date.fromisoformat(last)
        old = spans.get((currency, base), (lo, hi))
        spans[currency, base] = (min(old[0], lo), max(old[1], hi))
    book = RateBook.load(
        connection,
        min(lo for lo, _ in spans.values()),
        max(hi for _, hi in spans.values()),
        {c for pair in spans for c in pair},
    )
    rows = []
    for (currency, base), (lo, hi) in spans.items():
        for n in range((hi - lo).days + 1):
            day = lo + timedelta(days=n)
            found = book.rate(currency, base, day)
            if isinstance(found, NoRate):
                rows.append((currency, base, day.isoformat(), None, None, None, found.reason))
            else:
                units = int(found.rate.scaleb(money.RATE_PLACES))
                rows.append(
                    (
                        currency,
                        base,
                        day.isoformat(),
                        base,
                        units,
                        found.rate_date.isoformat(),
                        None,
                    )
                )
    connection.exec_driver_sql(f"DROP TABLE IF EXISTS temp.{RATES}")
    connection.exec_driver_sql(
        f"CREATE TEMPORARY TABLE {RATES} (currency TEXT, base TEXT, day DATE, out_base TEXT, "
        "rate INTEGER, rate_day DATE, note TEXT, PRIMARY KEY (currency, base, day))"
    )
    connection.exec_driver_sql(f"INSERT INTO {RATES} VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
    try:
        snapshot_join = RATE_JOIN.format(currency="s.currency")
        position_join = RATE_JOIN.format(currency="p.currency")
        skipped = connection.exec_driver_sql(
            f"SELECT s.id, a.user_id, s.snapshot_date, s.currency, {BASE}, r.note "
            f"FROM {SNAPSHOTS_FROM} JOIN {RATES} r ON {snapshot_join} "
            f"WHERE {where} AND r.rate IS NULL ORDER BY s.id",
            params,
        ).all()
        report.skipped.extend(
            Skipped(sid, user, date.fromisoformat(day), currency, base, note)
            for sid, user, day, currency, base, note in skipped
        )
        report.fixed += report.selected - len(skipped)
        report.positions_fixed += connection.exec_driver_sql(
            f"SELECT count(*) FROM {POSITIONS_FROM} JOIN {RATES} r ON {position_join} "
            f"WHERE {where} AND r.rate IS NOT NULL",
            params,
        ).scalar_one()
        earliest = connection.exec_driver_sql(
            f"SELECT user_id, min(day) FROM (SELECT a.user_id, s.snapshot_date AS day "
            f"FROM {SNAPSHOTS_FROM} JOIN {RATES} r ON {snapshot_join} "
            f"WHERE {where} AND r.rate IS NOT NULL UNION ALL SELECT a.user_id, s.snapshot_date "
            f"FROM {POSITIONS_FROM} JOIN {RATES} r ON {position_join} "
            f"WHERE {where} AND r.rate IS NOT NULL) GROUP BY user_id",
            params,
        ).all()
        for user_id, day in earliest:
            first = date.fromisoformat(day)
            if first < report.earliest_by_user.get(user_id, date.max):
                report.earliest_by_user[user_id] = first
        if dry_run:
            return report
        _check_results(connection, where, params, snapshot_join, position_join)
        amount = multiply("s.balance", "r.rate")
        value = multiply("p.market_value", "r.rate")
        price = multiply("p.price_per_unit", "r.rate")
        # Positions first (as on PostgreSQL); only rows whose values change are written.
        connection.exec_driver_sql(
            f"UPDATE portfolio_positions AS p SET price_base_currency = {price}, "
            f"market_value_base_currency = {value}, exchange_rate_used = r.rate "
            "FROM account_snapshots s JOIN financial_accounts a ON a.id = s.account_id "
            f"LEFT JOIN profiles pr ON pr.user_id = a.user_id, {RATES} r "
            f"WHERE s.id = p.snapshot_id AND {position_join} AND {where} AND NOT ("
            f"p.price_base_currency IS {price} AND p.market_value_base_currency IS {value} "
            "AND p.exchange_rate_used IS r.rate)",
            params,
        )
        connection.exec_driver_sql(
            f"UPDATE account_snapshots AS s SET base_currency = r.out_base, "
            f"balance_base_currency = {amount}, exchange_rate_used = r.rate, "
            "rate_date = r.rate_day, conversion_note = r.note, updated_at = CURRENT_TIMESTAMP "
            "FROM financial_accounts a LEFT JOIN profiles pr ON pr.user_id = a.user_id, "
            f"{RATES} r WHERE a.id = s.account_id AND {snapshot_join} AND {where} AND NOT ("
            f"s.base_currency IS r.out_base AND s.balance_base_currency IS {amount} "
            "AND s.exchange_rate_used IS r.rate AND s.rate_date IS r.rate_day "
            "AND s.conversion_note IS r.note)",
            params,
        )
    finally:
        connection.exec_driver_sql(f"DROP TABLE IF EXISTS temp.{RATES}")
    return report
