"""Conversion on PostgreSQL: rates from Python, amounts in one UPDATE per table.

The rate of every (currency, base currency, day) the scope needs is answered once by the one
rate lookup (`fx.lookup.RateBook`: exact crosses, the 14-day look-back, euro changeovers, the
reasons when there is none) and copied into a temporary table. One `UPDATE ... FROM` per
table then joins snapshots (or positions) to that table and computes `amount * rate` in
NUMERIC, which is exact, rounded once, half-even, by `half_even()` below (PostgreSQL's own
`round()` rounds ties away from zero). The million rows never leave the server: what a plain
hand-written set-based UPDATE costs, plus a grouped scan to learn the scope and a few
thousand rate rows.

The results are those of `convert.plan_snapshot_updates` / `plan_position_updates` (the
tests compare both paths row by row): a snapshot without a rate keeps NULL amounts and the
lookup's reason in `conversion_note`, never a stand-in 1.0; a row whose stored values already
equal the result is not written.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, text

from wealth_pipeline import money
from wealth_pipeline.conversions.report import ConversionReport, Skipped
from wealth_pipeline.fx.lookup import NoRate, RateBook
from wealth_pipeline.money import DEFAULT_BASE_CURRENCY
from wealth_pipeline.warehouse import dialect

RATES = "conversion_rates"  # the temporary table: one row per (currency, base, day)
BASE = "coalesce(pr.base_currency, :default_base)"
SNAPSHOTS_FROM = (
    "account_snapshots s JOIN financial_accounts a ON a.id = s.account_id "
    "LEFT JOIN profiles pr ON pr.user_id = a.user_id"
)
POSITIONS_FROM = f"portfolio_positions p JOIN {SNAPSHOTS_FROM} ON s.id = p.snapshot_id"
# `pending.provisional` over the aliases above: converted at an older rate than one that now
# exists for the snapshot's day (its currency's or its owner's base currency's).
PROVISIONAL = (
    "(s.balance_base_currency IS NOT NULL AND s.rate_date < s.snapshot_date AND EXISTS ("
    "SELECT 1 FROM exchange_rates x WHERE x.base_currency = 'EUR' "
    f"AND x.quote_currency IN (s.currency, {BASE}) "
    "AND x.rate_date > s.rate_date AND x.rate_date <= s.snapshot_date))"
)
RATE_JOIN = f"r.currency = {{currency}} AND r.base = {BASE} AND r.day = s.snapshot_date"
# A dense rate table (every day between a pair's first and last) unless it would be larger
# than this many times the rows converted; then only the days that occur.
DENSE_FACTOR = 2


def half_even(product: str, places: int) -> str:
    """SQL rounding `product` (an exact NUMERIC) half-even to `places` decimals.

    A tie at `places` is `k * 2u + u/2` with the unit u = 10^-places, i.e. its remainder
    modulo 2u is exactly u/2 in absolute value, and then the even neighbour is the truncated
    value; every other value rounds to the nearest, which `round()` does.
    """
    unit = Decimal(1).scaleb(-places)
    twice, half = format(unit * 2, "f"), format(unit / 2, "f")
    return (
        f"CASE WHEN abs(mod({product}, {twice})) = {half} "
        f"THEN trunc({product}, {places}) ELSE round({product}, {places}) END"
    )


def _conditions(
    user_ids: Sequence[int] | None,
    start: date | None,
    end: date | None,
    snapshot_ids: Sequence[int] | None,
) -> tuple[list[str], dict[str, Any]]:
    where = ["TRUE"]
    params: dict[str, Any] = {"default_base": DEFAULT_BASE_CURRENCY}
    if user_ids is not None:
        where.append("a.user_id = ANY(:user_ids)")
        params["user_ids"] = list(user_ids)
    if start is not None:
        where.append("s.snapshot_date >= :start")
        params["start"] = start
    if end is not None:
        where.append("s.snapshot_date <= :end")
        params["end"] = end
    if snapshot_ids is not None:
        where.append("s.id = ANY(:snapshot_ids)")
        params["snapshot_ids"] = list(snapshot_ids)
    return where, params


def convert_in_database(
    connection: Connection,
    report: ConversionReport,
    *,
    user_ids: Sequence[int] | None,
    start: date | None,
    end: date | None,
    only_missing: bool,
    limit: int | None,
    dry_run: bool,
) -> ConversionReport:
    """`convert.convert_snapshots` on PostgreSQL (same arguments, same report)."""
    snapshot_ids = None
    if limit is not None:  # the oldest `limit` snapshots, and only their positions
        where, params = _conditions(user_ids, start, end, None)
        if only_missing:
            where.append(f"(s.balance_base_currency IS NULL OR {PROVISIONAL})")
        snapshot_ids = list(
            connection.execute(
                text(
                    f"SELECT s.id FROM {SNAPSHOTS_FROM} WHERE {' AND '.join(where)} "
                    "ORDER BY s.snapshot_date, s.id LIMIT :limit"
                ),
                {**params, "limit": limit},
            ).scalars()
        )
    where, params = _conditions(user_ids, start, end, snapshot_ids)
    snapshot_where = " AND ".join(
        where + ([f"(s.balance_base_currency IS NULL OR {PROVISIONAL})"] if only_missing else [])
    )
    position_where = " AND ".join(
        where
        + ([f"(p.market_value_base_currency IS NULL OR {PROVISIONAL})"] if only_missing else [])
    )
    snapshot_groups = _groups(connection, SNAPSHOTS_FROM, "s.currency", snapshot_where, params)
    position_groups = _groups(connection, POSITIONS_FROM, "p.currency", position_where, params)
    report.selected = sum(count for *_, count in snapshot_groups)
    if not snapshot_groups and not position_groups:
        return report

    spans: dict[tuple[str, str], tuple[date, date]] = {}
    for _user, currency, base, first, last, _count in snapshot_groups + position_groups:
        lo, hi = spans.get((currency, base), (first, last))
        spans[currency, base] = (min(lo, first), max(hi, last))
    first_day = min(lo for lo, _ in spans.values())
    last_day = max(hi for _, hi in spans.values())
    book = RateBook.load(connection, first_day, last_day, {c for pair in spans for c in pair})
    selected_rows = report.selected + sum(count for *_, count in position_groups)
    dense = sum((hi - lo).days + 1 for lo, hi in spans.values())
    if dense <= DENSE_FACTOR * selected_rows:
        keys: Iterator[tuple[str, str, date]] = (
            (currency, base, lo + timedelta(days=n))
            for (currency, base), (lo, hi) in spans.items()
            for n in range((hi - lo).days + 1)
        )
    else:
        keys = _occurring_keys(connection, snapshot_where, position_where, params)
    missing = _load_rates(connection, book, keys)

    # Only rows whose stored values differ from the result are written. Selected because
    # their amount is NULL, a row with a rate always changes: the products are not computed
    # twice for it. A provisional row (only-missing runs) is compared in full.
    amount = half_even("s.balance * r.rate", money.AMOUNT_PLACES)
    price = half_even("p.price_per_unit * r.rate", money.PRICE_PLACES)
    value = half_even("p.market_value * r.rate", money.AMOUNT_PLACES)
    snapshot_differs = (
        "(s.base_currency, s.balance_base_currency, s.exchange_rate_used, s.rate_date, "
        f"s.conversion_note) IS DISTINCT FROM (r.out_base, {amount}, r.rate, r.rate_day, "
        "r.note)"
    )
    position_differs = (
        "(p.price_base_currency, p.market_value_base_currency, p.exchange_rate_used) "
        f"IS DISTINCT FROM ({price}, {value}, r.rate)"
    )
    # Each pass is (rows, what makes one change). Rows without an amount and provisional
    # rows go in separate statements: one OR over both would cost the unconverted rows (the
    # bulk of a first conversion) a worse plan.
    scope = " AND ".join(where)
    if only_missing:
        snapshot_passes = [
            (
                f"{scope} AND s.balance_base_currency IS NULL",
                "(r.rate IS NOT NULL OR (s.base_currency, s.exchange_rate_used, s.rate_date, "
                "s.conversion_note) IS DISTINCT FROM (r.out_base, r.rate, r.rate_day, r.note))",
            ),
            (f"{scope} AND {PROVISIONAL}", snapshot_differs),
        ]
        position_passes = [
            (
                f"{scope} AND p.market_value_base_currency IS NULL",
                "(r.rate IS NOT NULL OR p.price_base_currency IS NOT NULL "
                "OR p.exchange_rate_used IS NOT NULL)",
            ),
            (
                f"{scope} AND p.market_value_base_currency IS NOT NULL AND {PROVISIONAL}",
                position_differs,
            ),
        ]
    else:
        snapshot_passes = [(snapshot_where, snapshot_differs)]
        position_passes = [(position_where, position_differs)]

    # Counts, skips and the earliest converted day per user, from the groups; the rows of
    # the (rare) days without a rate are read one by one.
    report.positions_fixed += sum(count for *_, count in position_groups)
    report.fixed += report.selected
    provisional_days: dict[int, date] = {}
    if only_missing:
        # Provisional rows count as refreshed when their values change, not as fixed; the
        # earliest changed day per user comes from those that change.
        provisional_rows = connection.execute(
            text(
                f"SELECT a.user_id, count(*), count(*) FILTER (WHERE {snapshot_differs}), "
                f"min(s.snapshot_date) FILTER (WHERE {snapshot_differs}) "
                f"FROM {SNAPSHOTS_FROM} JOIN {RATES} r ON "
                f"{RATE_JOIN.format(currency='s.currency')} "
                f"WHERE {snapshot_where} AND s.balance_base_currency IS NOT NULL "
                "GROUP BY a.user_id"
            ),
            params,
        ).all()
        if not provisional_rows:  # nothing provisional in scope: one UPDATE per table
            del snapshot_passes[1:], position_passes[1:]
        for user_id, selected, changed, first_changed in provisional_rows:
            report.fixed -= selected
            report.refreshed += changed
            if first_changed is not None:
                provisional_days[user_id] = first_changed
    if missing:
        skipped = connection.execute(
            text(
                f"SELECT s.id, a.user_id, s.snapshot_date, s.currency, {BASE}, r.note "
                f"FROM {SNAPSHOTS_FROM} JOIN {RATES} r ON "
                f"{RATE_JOIN.format(currency='s.currency')} "
                f"WHERE {snapshot_where} AND r.rate IS NULL ORDER BY s.id"
            ),
            params,
        ).all()
        report.skipped.extend(Skipped(*row) for row in skipped)
        report.fixed -= len(skipped)
        report.positions_fixed -= connection.execute(
            text(
                f"SELECT count(*) FROM {POSITIONS_FROM} JOIN {RATES} r ON "
                f"{RATE_JOIN.format(currency='p.currency')} "
                f"WHERE {position_where} AND r.rate IS NULL"
            ),
            params,
        ).scalar_one()
    if missing or provisional_days:
        # The earliest day among the rows without an amount that get one; provisional rows
        # count only where they change (`provisional_days`).
        earliest = _earliest_converted(
            connection,
            snapshot_where + (" AND s.balance_base_currency IS NULL" if only_missing else ""),
            position_where + (" AND p.market_value_base_currency IS NULL" if only_missing else ""),
            params,
        )
    else:
        earliest = {}
        for user_id, _currency, _base, first, _last, _count in snapshot_groups + position_groups:
            earliest[user_id] = min(first, earliest.get(user_id, first))
    for user_id, day in provisional_days.items():
        earliest[user_id] = min(day, earliest.get(user_id, day))
    for user_id, day in earliest.items():
        if day < report.earliest_by_user.get(user_id, date.max):
            report.earliest_by_user[user_id] = day
    if dry_run:
        return report

    # Positions first: a provisional snapshot's positions are selected through the snapshot's
    # stored rate day, which its own UPDATE replaces.
    for rows, changed in position_passes:
        connection.execute(
            text(
                f"UPDATE portfolio_positions p SET price_base_currency = {price}, "
                f"market_value_base_currency = {value}, exchange_rate_used = r.rate "
                "FROM account_snapshots s JOIN financial_accounts a ON a.id = s.account_id "
                f"LEFT JOIN profiles pr ON pr.user_id = a.user_id, {RATES} r "
                f"WHERE s.id = p.snapshot_id AND {RATE_JOIN.format(currency='p.currency')} AND "
                f"{rows} AND {changed}"
            ),
            params,
        )
    for rows, changed in snapshot_passes:
        connection.execute(
            text(
                f"UPDATE account_snapshots s SET base_currency = r.out_base, "
                f"balance_base_currency = {amount}, exchange_rate_used = r.rate, "
                "rate_date = r.rate_day, conversion_note = r.note, updated_at = now() "
                "FROM financial_accounts a LEFT JOIN profiles pr ON pr.user_id = a.user_id, "
                f"{RATES} r WHERE a.id = s.account_id AND "
                f"{RATE_JOIN.format(currency='s.currency')} AND {rows} AND {changed}"
            ),
            params,
        )
    return report


def _groups(
    connection: Connection, source: str, currency: str, where: str, params: dict[str, Any]
) -> list[tuple[int, str, str, date, date, int]]:
    """(user, currency, base, first day, last day, rows) of the scope: one grouped scan."""
    return [
        tuple(row)
        for row in connection.execute(
            text(
                f"SELECT a.user_id, {currency}, {BASE}, min(s.snapshot_date), "
                f"max(s.snapshot_date), count(*) FROM {source} WHERE {where} "
                f"GROUP BY a.user_id, {currency}, {BASE}"
            ),
            params,
        )
    ]


def _occurring_keys(
    connection: Connection, snapshot_where: str, position_where: str, params: dict[str, Any]
) -> Iterator[tuple[str, str, date]]:
    """The (currency, base, day) keys that occur in the scope (sparse scopes)."""
    query = (
        f"SELECT s.currency, {BASE}, s.snapshot_date FROM {SNAPSHOTS_FROM} "
        f"WHERE {snapshot_where} UNION "
        f"SELECT p.currency, {BASE}, s.snapshot_date FROM {POSITIONS_FROM} WHERE {position_where}"
    )
    yield from (tuple(row) for row in connection.execute(text(query), params))


def _load_rates(
    connection: Connection, book: RateBook, keys: Iterator[tuple[str, str, date]]
) -> bool:
    """Fill the temporary rate table; whether any key has no rate."""
    rows = []
    missing = False
    for currency, base, day in keys:
        found = book.rate(currency, base, day)
        if isinstance(found, NoRate):
            missing = True
            rows.append((currency, base, day, None, None, None, found.reason))
        else:
            rows.append((currency, base, day, base, found.rate, found.rate_date, None))
    connection.exec_driver_sql(
        f"CREATE TEMPORARY TABLE IF NOT EXISTS {RATES} (currency varchar(3), base varchar(3), "
        "day date, out_base varchar(3), rate numeric, rate_day date, note text, "
        "PRIMARY KEY (currency, base, day)) ON COMMIT DROP"
    )
    connection.exec_driver_sql(f"TRUNCATE {RATES}")
    columns = ("currency", "base", "day", "out_base", "rate", "rate_day", "note")
    dialect.copy_rows(connection, RATES, columns, rows)
    dialect.analyze(connection, RATES)
    return missing


def _earliest_converted(
    connection: Connection, snapshot_where: str, position_where: str, params: dict[str, Any]
) -> dict[int, date]:
    """Per user, the earliest day of a snapshot or position that has a rate."""
    query = (
        f"SELECT user_id, min(day) FROM ("
        f"SELECT a.user_id, s.snapshot_date AS day FROM {SNAPSHOTS_FROM} JOIN {RATES} r ON "
        f"{RATE_JOIN.format(currency='s.currency')} WHERE {snapshot_where} "
        "AND r.rate IS NOT NULL UNION ALL "
        f"SELECT a.user_id, s.snapshot_date FROM {POSITIONS_FROM} JOIN {RATES} r ON "
        f"{RATE_JOIN.format(currency='p.currency')} WHERE {position_where} "
        "AND r.rate IS NOT NULL) converted GROUP BY user_id"
    )
    return {user_id: day for user_id, day in connection.execute(text(query), params)}
