"""Benchmark: converting stored snapshots into base currencies.

    .venv/bin/python -m bench.conversions                      # 1,000,000 snapshots, both backends
    .venv/bin/python -m bench.conversions --snapshots 100000 --backends sqlite
    .venv/bin/python -m bench.conversions --backends postgres --rounds 3     # medians of 3

Data: ACCOUNTS accounts (default 275) spread over 25 users with base EUR, CHF or USD, in 5
currencies (USD, GBP, CHF, JPY, SEK), one snapshot per account and day from 2015-01-01
(1,000,000 snapshots = 275 accounts x ~10 years), synthetic EUR rates on weekdays.
Per backend, in the same run and on the same rows:
- ours: `conversions.convert_snapshots` (PostgreSQL: a grouped scan, the RateBook's rates
  in a temporary table, one UPDATE per table with exact half-even NUMERIC arithmetic;
  SQLite: one query, amounts in Python, one executemany UPDATE per table);
- hand-written: one plain set-based SQL UPDATE joining a table of per-(currency, base, day)
  rates computed beforehand (its preparation untimed; PostgreSQL's round() takes ties away
  from zero and SQLite multiplies through REAL, so it is a timing baseline only, not exact);
- row by row: one rate lookup and one single-row UPDATE per snapshot (the naive loop),
  on a sample of --row-sample snapshots, as a rate.
Everything it creates (a temporary SQLite file, a PostgreSQL scratch database) is removed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

from sqlalchemy import create_engine, insert, select, text, update
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from wealth_pipeline.brokers.catalogue import get_broker, load_catalogue
from wealth_pipeline.conversions.convert import convert_snapshots
from wealth_pipeline.fx import lookup
from wealth_pipeline.fx.lookup import RateBook
from wealth_pipeline.warehouse.engine import dispose_engines, get_engine
from wealth_pipeline.warehouse.schema import (
    account_snapshots,
    exchange_rates,
    financial_accounts,
    profiles,
    users,
)

CURRENCIES = ("USD", "GBP", "CHF", "JPY", "SEK")
PER_EURO = {"USD": 1.1, "GBP": 0.86, "CHF": 0.95, "JPY": 150.0, "SEK": 11.2}
BASES = ("EUR", "CHF", "USD")
USERS = 25
START = date(2015, 1, 1)
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def populate(url: str, snapshots: int, accounts: int) -> tuple[date, date]:
    engine = get_engine(url)
    days = -(-snapshots // accounts)
    end = START + timedelta(days=days - 1)
    with engine.begin() as connection:
        load_catalogue(connection)
        broker = get_broker(connection, "manual")
        assert broker is not None
        rates = []
        day = START - timedelta(days=20)
        while day <= end:
            if day.weekday() < 5:
                wobble = (day.toordinal() % 97) / 1000
                for code in CURRENCIES:
                    value = Decimal(str(round(PER_EURO[code] * (1 + wobble), 4)))
                    rates.append(
                        {"rate_date": day, "quote_currency": code, "rate": value, "source": "b"}
                    )
            day += timedelta(days=1)
        connection.execute(insert(exchange_rates), rates)
        user_ids = []
        for n in range(USERS):
            user_id = connection.execute(
                insert(users).values(username=f"u{n}").returning(users.c.id)
            ).scalar_one()
            connection.execute(
                insert(profiles).values(user_id=user_id, base_currency=BASES[n % len(BASES)])
            )
            user_ids.append(user_id)
        account_rows = [
            {
                "user_id": user_ids[n % USERS],
                "broker_id": broker["id"],
                "name": f"a{n}",
                "currency": CURRENCIES[n % len(CURRENCIES)],
                "is_manual": True,
            }
            for n in range(accounts)
        ]
        account_ids = list(
            connection.execute(
                insert(financial_accounts).returning(
                    financial_accounts.c.id, sort_by_parameter_order=True
                ),
                account_rows,
            ).scalars()
        )
    currency_of = {a: CURRENCIES[n % len(CURRENCIES)] for n, a in enumerate(account_ids)}
    rows = (
        (a, START + timedelta(days=d), (a * 7919 + d * 104729) % 100_000_000, currency_of[a])
        for d in range(days)
        for a in account_ids
    )
    rows = (row for _, row in zip(range(snapshots), rows, strict=False))
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        if engine.dialect.name == "postgresql":
            sql = "COPY account_snapshots (account_id, snapshot_date, balance, currency) FROM STDIN"
            with cursor.copy(sql) as copy:
                for a, d, units, code in rows:
                    copy.write_row((a, d, Decimal(units).scaleb(-4), code))
        else:
            cursor.executemany(
                "INSERT INTO account_snapshots (account_id, snapshot_date, balance, currency) "
                "VALUES (?, ?, ?, ?)",
                ((a, d.isoformat(), units, code) for a, d, units, code in rows),
            )
        raw.commit()
    finally:
        raw.close()
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql("VACUUM ANALYZE")
    return START, end


def reset(engine) -> None:
    with engine.begin() as connection:
        connection.execute(
            update(account_snapshots).values(
                base_currency=None,
                balance_base_currency=None,
                exchange_rate_used=None,
                rate_date=None,
                conversion_note=None,
            )
        )
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql("VACUUM ANALYZE account_snapshots")


def prepare_day_rates(engine, first: date, last: date) -> None:
    """The hand-written UPDATE's input: one exact rate per (currency, base, day)."""
    pg = engine.dialect.name == "postgresql"
    with engine.begin() as connection:
        book = RateBook.load(connection, first, last, set(CURRENCIES) | set(BASES))
        connection.exec_driver_sql("DROP TABLE IF EXISTS bench_day_rates")
        connection.exec_driver_sql(
            "CREATE TABLE bench_day_rates (currency varchar(3), base varchar(3), day date, "
            f"rate {'numeric' if pg else 'REAL'}, rate_units bigint, rate_date date, "
            "PRIMARY KEY (currency, base, day))"
        )
        rows = []
        day = first
        while day <= last:
            for code in CURRENCIES:
                for base in BASES:
                    found = book.rate(code, base, day)
                    if found:
                        units = int(found.rate.scaleb(12))
                        rate = found.rate if pg else float(found.rate)
                        rows.append(
                            (
                                code,
                                base,
                                day if pg else day.isoformat(),
                                rate,
                                units,
                                found.rate_date if pg else found.rate_date.isoformat(),
                            )
                        )
            day += timedelta(days=1)
        placeholder = "%s" if pg else "?"
        cursor = connection.connection.cursor()
        cursor.executemany(
            f"INSERT INTO bench_day_rates VALUES ({', '.join([placeholder] * 6)})", rows
        )
    if pg:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql("ANALYZE bench_day_rates")


def hand_written(engine) -> int:
    if engine.dialect.name == "postgresql":
        sql = """
            UPDATE account_snapshots s
               SET base_currency = r.base, balance_base_currency = round(s.balance * r.rate, 4),
                   exchange_rate_used = r.rate, rate_date = r.rate_date, updated_at = now()
              FROM financial_accounts a, profiles p, bench_day_rates r
             WHERE a.id = s.account_id AND p.user_id = a.user_id
               AND r.currency = s.currency AND r.base = p.base_currency
               AND r.day = s.snapshot_date AND s.balance_base_currency IS NULL"""
    else:
        sql = """
            UPDATE account_snapshots
               SET base_currency = r.base,
                   balance_base_currency = CAST(round(account_snapshots.balance * r.rate) AS INTEGER),
                   exchange_rate_used = r.rate_units, rate_date = r.rate_date,
                   updated_at = CURRENT_TIMESTAMP
              FROM financial_accounts a, profiles p, bench_day_rates r
             WHERE a.id = account_snapshots.account_id AND p.user_id = a.user_id
               AND r.currency = account_snapshots.currency AND r.base = p.base_currency
               AND r.day = account_snapshots.snapshot_date
               AND account_snapshots.balance_base_currency IS NULL"""
    with engine.begin() as connection:
        return connection.exec_driver_sql(sql).rowcount


def row_by_row(engine, sample: int) -> float:
    """The naive loop on `sample` snapshots: one lookup and one UPDATE each; rows/s."""
    s = account_snapshots
    with engine.connect() as connection:
        rows = connection.execute(
            select(s.c.id, s.c.currency, s.c.snapshot_date, s.c.balance, profiles.c.base_currency)
            .join(financial_accounts, financial_accounts.c.id == s.c.account_id)
            .join(profiles, profiles.c.user_id == financial_accounts.c.user_id)
            .where(s.c.balance_base_currency.is_(None))
            .limit(sample)
        ).all()
    started = time.perf_counter()
    with engine.begin() as connection:
        for snapshot_id, currency, day, balance, base in rows:
            found = lookup.rate(connection, currency, base, day)
            if not found:
                continue
            connection.execute(
                update(s)
                .where(s.c.id == snapshot_id)
                .values(
                    base_currency=base,
                    balance_base_currency=found.convert(balance),
                    exchange_rate_used=found.rate,
                    rate_date=found.rate_date,
                )
            )
    return len(rows) / (time.perf_counter() - started)


def run_backend(name: str, url: str, args: argparse.Namespace) -> dict[str, float]:
    started = time.perf_counter()
    first, last = populate(url, args.snapshots, args.accounts)
    print(f"[{name}] {args.snapshots:,} snapshots loaded in {time.perf_counter() - started:.1f} s")
    engine = get_engine(url)
    figures: dict[str, float] = {}
    prepare_day_rates(engine, first, last)  # the hand-written UPDATE's input, untimed

    def ours() -> float:
        started = time.perf_counter()
        with engine.begin() as connection:
            report = convert_snapshots(connection)
        seconds = time.perf_counter() - started
        assert report.fixed == args.snapshots and not report.skipped and not report.errors, (
            report.fixed,
            len(report.skipped),
            report.errors[:3],
        )
        return seconds

    def hand() -> float:
        started = time.perf_counter()
        changed = hand_written(engine)
        seconds = time.perf_counter() - started
        assert changed == args.snapshots, changed
        return seconds

    # Every timed UPDATE starts from the same table state: every row rewritten once, then
    # VACUUM ANALYZE (a freshly loaded table has no free space in its pages, so whichever ran
    # first would pay for new pages and the other would not). Odd rounds run ours first, even
    # rounds the hand-written UPDATE first; the ratio is of the medians.
    times: dict[str, list[float]] = {"ours": [], "hand": []}
    for round_number in range(1, args.rounds + 1):
        order = [("ours", ours), ("hand", hand)]
        if round_number % 2 == 0:
            order.reverse()
        for label, measure in order:
            reset(engine)
            times[label].append(measure())
        print(
            f"[{name}] round {round_number}: ours {times['ours'][-1]:.2f} s, hand-written "
            f"{times['hand'][-1]:.2f} s (load {os.getloadavg()[0]:.1f})",
            file=sys.stderr,
        )
    figures["ours_s"] = statistics.median(times["ours"])
    figures["hand_s"] = statistics.median(times["hand"])
    reset(engine)
    figures["row_by_row_per_s"] = row_by_row(engine, args.row_sample)
    figures["ours_per_s"] = args.snapshots / figures["ours_s"]
    print(
        f"[{name}] (median of {args.rounds}, load {os.getloadavg()[0]:.1f}) "
        f"ours {figures['ours_s']:.2f} s ({figures['ours_per_s']:,.0f}/s); "
        f"hand-written UPDATE {figures['hand_s']:.2f} s; ratio "
        f"{figures['ours_s'] / figures['hand_s']:.2f}x; row by row "
        f"{figures['row_by_row_per_s']:,.0f}/s (sample {args.row_sample}): ours "
        f"{figures['ours_per_s'] / figures['row_by_row_per_s']:,.0f}x faster"
    )
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--snapshots", type=int, default=1_000_000)
    parser.add_argument("--accounts", type=int, default=275)
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--postgres-url", default=DEFAULT_PG)
    parser.add_argument("--row-sample", type=int, default=2000)
    parser.add_argument(
        "--rounds", type=int, default=1, help="timed rounds, alternating which runs first"
    )
    args = parser.parse_args()
    backends = args.backends.split(",")
    with tempfile.TemporaryDirectory(prefix="bench_conversions_") as folder:
        if "sqlite" in backends:
            run_backend("sqlite", f"sqlite:///{Path(folder) / 'warehouse.sqlite'}", args)
        if "postgres" in backends:
            admin = create_engine(args.postgres_url, isolation_level="AUTOCOMMIT")
            name = f"bench_conversions_{uuid.uuid4().hex[:10]}"
            with admin.connect() as connection:
                connection.execute(text(f'CREATE DATABASE "{name}"'))
            try:
                url = make_url(args.postgres_url).set(database=name)
                run_backend("postgres", url.render_as_string(hide_password=False), args)
            finally:
                dispose_engines()
                with admin.connect() as connection:
                    connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                admin.dispose()
    dispose_engines()


if __name__ == "__main__":
    main()
