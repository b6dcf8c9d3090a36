"""Benchmark: building the marts for a long history.

    .venv/bin/python -m bench.marts                              # 50 accounts x 10 years, both backends
    .venv/bin/python -m bench.marts --accounts 10 --years 2 --backends sqlite
    .venv/bin/python -m bench.marts --users 200 --accounts 5 --years 1   # many users

Data (`populate`, also used by the API benchmark): one user (base EUR) with ACCOUNTS accounts
in EUR, USD and CHF (checking, savings, brokerage, retirement), one snapshot per account and
day for YEARS years (50 x 10 years = 182,500 snapshots), converted at fixed rates; every fifth
account holds three positions on every day (shares held in several accounts, merged by ISIN).

Per backend, on a fresh warehouse, it prints the wall time of `marts.build_marts`:
- `scratch`: the first build (nothing built yet: every day of every account);
- `noop`: a second build with nothing changed;
- `one new day`: a snapshot for every account (of every user) on the next day, then the
  build through it (what the daily sync and the sensor do every day);
- `back-dated`: one account's snapshot replaced a year back (its user's later days rebuilt);
- `full`: `full=True` over the whole history again.
On PostgreSQL the tables are analyzed after loading (as autovacuum does soon after a bulk
load). Everything it creates (a temporary SQLite file, a PostgreSQL scratch database) is removed.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import resource
import sys
import tempfile
import time
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

from sqlalchemy import Connection, Engine, func, insert, select, text, update

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support.postgres import scratch_postgres
from wealth_pipeline import money
from wealth_pipeline.brokers.catalogue import get_broker, load_catalogue
from wealth_pipeline.marts import build_marts
from wealth_pipeline.marts.changes import record_account_change, record_mart_change
from wealth_pipeline.warehouse.engine import dispose_engines, get_engine
from wealth_pipeline.warehouse.schema import (
    account_snapshots,
    exchange_rates,
    financial_accounts,
    portfolio_positions,
    profiles,
    users,
)

DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
END = date(2026, 10, 30)
TO_EUR = {"EUR": Decimal(1), "USD": Decimal("0.92"), "CHF": Decimal("1.05")}
TYPES = ("checking", "savings", "brokerage", "retirement")
HOLDINGS = (  # isin, symbol, name, asset class, price in the account currency
    ("IE00BK5BQT80", "VWCE", "Vanguard FTSE All-World", "fund", Decimal("120.5")),
    ("US0378331005", "AAPL", "Apple Inc.", "equity", Decimal("190.25")),
    ("DE0001102580", "", "Bund 2032", "fixed_income", Decimal("98.4")),
)
CHUNK = 20_000


def _balance(account: int, day_number: int) -> Decimal:
    return Decimal(1000 + 37 * account) + Decimal(day_number % 400) + Decimal(account % 7) / 4


def populate(
    connection: Connection,
    *,
    username: str = "bench",
    accounts: int = 50,
    years: int = 10,
    end: date = END,
) -> int:
    """A user with `accounts` accounts and daily snapshots for `years` years; the user's id."""
    load_catalogue(connection)
    broker = get_broker(connection, "manual")
    assert broker is not None
    user_id = connection.execute(
        insert(users).values(username=username).returning(users.c.id)
    ).scalar_one()
    connection.execute(insert(profiles).values(user_id=user_id, base_currency="EUR"))
    start = end - timedelta(days=365 * years - 1)
    for n in range(accounts):
        currency = ("EUR", "USD", "CHF")[n % 3]
        account_id = connection.execute(
            insert(financial_accounts)
            .values(
                user_id=user_id,
                broker_id=broker["id"],
                name=f"Account {n + 1}",
                account_identifier=f"B{n + 1}",
                account_type=TYPES[n % len(TYPES)],
                currency=currency,
                is_manual=True,
                sync_enabled=False,
            )
            .returning(financial_accounts.c.id)
        ).scalar_one()
        write_days(connection, account_id, n, currency, start, end, positions=n % 5 == 2)
    return user_id


def write_days(
    connection: Connection,
    account_id: int,
    n: int,
    currency: str,
    start: date,
    end: date,
    *,
    positions: bool,
) -> None:
    """Snapshots (and positions) of one account for every day of [start, end]."""
    rate = TO_EUR[currency]
    rows = []
    day = start
    while day <= end:
        balance = _balance(n, day.toordinal())
        rows.append(
            {
                "account_id": account_id,
                "snapshot_date": day,
                "balance": balance,
                "currency": currency,
                "base_currency": "EUR",
                "balance_base_currency": money.quantize(balance * rate, money.AMOUNT_PLACES),
                "exchange_rate_used": rate,
                "rate_date": day,
                "snapshot_source": "manual",
            }
        )
        day += timedelta(days=1)
    for first in range(0, len(rows), CHUNK):
        chunk = rows[first : first + CHUNK]
        ids = (
            connection.execute(
                insert(account_snapshots).returning(
                    account_snapshots.c.id, sort_by_parameter_order=True
                ),
                chunk,
            )
            .scalars()
            .all()
        )
        if positions:
            connection.execute(
                insert(portfolio_positions),
                [
                    _position(snapshot_id, row["balance"], holding, rate, currency)
                    for snapshot_id, row in zip(ids, chunk, strict=True)
                    for holding in HOLDINGS
                ],
            )


def _position(
    snapshot_id: int, balance: Decimal, holding: tuple, rate: Decimal, currency: str
) -> dict:
    isin, symbol, name, asset_class, price = holding
    quantity = money.quantize(balance / 4 / price, money.QUANTITY_PLACES)
    value = money.quantize(quantity * price, money.AMOUNT_PLACES)
    return {
        "snapshot_id": snapshot_id,
        "isin": isin,
        "symbol": symbol,
        "name": name,
        "quantity": quantity,
        "price_per_unit": price,
        "market_value": value,
        "currency": currency,
        "asset_class": asset_class,
        "price_base_currency": money.quantize(price * rate, money.PRICE_PLACES),
        "market_value_base_currency": money.quantize(value * rate, money.AMOUNT_PLACES),
        "exchange_rate_used": rate,
    }


def add_day(engine: Engine, user_id: int, day: date) -> None:
    """Every account of the user gets a snapshot on `day` (as a daily sync would)."""
    with engine.begin() as connection:
        accounts = connection.execute(
            select(financial_accounts.c.id, financial_accounts.c.currency)
            .where(financial_accounts.c.user_id == user_id)
            .order_by(financial_accounts.c.id)
        ).all()
        for n, (account_id, currency) in enumerate(accounts):
            write_days(connection, account_id, n, currency, day, day, positions=n % 5 == 2)
        record_mart_change(connection, user_id, day, "bench: one new day")


def back_date(engine: Engine, user_id: int, day: date) -> None:
    """Replace one account's balance on `day` (a correction a year back)."""
    with engine.begin() as connection:
        account_id = connection.execute(
            select(func.min(financial_accounts.c.id)).where(financial_accounts.c.user_id == user_id)
        ).scalar_one()
        connection.execute(
            update(account_snapshots)
            .where(
                account_snapshots.c.account_id == account_id,
                account_snapshots.c.snapshot_date == day,
            )
            .values(balance=Decimal("12345.6700"), balance_base_currency=Decimal("12345.6700"))
        )
        # as `snapshots.store.write_snapshots` records it: this account's change
        record_account_change(connection, account_id, day, "bench: back-dated correction")


_server_engine: Engine | None = None


def watch_server(engine: Engine) -> None:
    """Count the CPU of `engine`'s PostgreSQL backends in `timed` (nothing on SQLite)."""
    global _server_engine
    _server_engine = engine if engine.dialect.name == "postgresql" else None


def server_cpu() -> float:
    """CPU seconds used so far by the PostgreSQL backends serving this benchmark's database
    (local server: read from /proc), 0 on SQLite. Unlike wall time, barely moved by other
    load on a shared machine."""
    if _server_engine is None:
        return 0.0
    with _server_engine.connect() as connection:
        pids = (
            connection.execute(
                text("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
            )
            .scalars()
            .all()
        )
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def timed(label: str, action, rows_read: int | None = None):
    """Run `action` (a build); print wall and CPU time (this process's and, on PostgreSQL, its
    backends': CPU seconds shrug off the other load of a shared machine), and per row when
    `rows_read`."""
    started, cpu, server = time.perf_counter(), time.process_time(), server_cpu()
    result = action()
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    cpu += server_cpu() - server  # PostgreSQL: its backends' CPU, where the work is
    rows = sum(result.rows.values()) if hasattr(result, "rows") else 0
    per_row = f"  {seconds / rows_read * 1e6:6.2f} us/row" if rows_read else ""
    lock = getattr(result, "lock_seconds", None)
    held = f", write lock {lock:.2f} s" if lock is not None else ""
    print(
        f"  {label:<14} {seconds:8.2f} s (cpu {cpu:.2f} s{held}){per_row}   {rows:>9} rows written",
        flush=True,
    )
    if getattr(result, "model_seconds", None):
        print(
            "      "
            + ", ".join(
                f"{m.removeprefix('mart_')} {s:.2f}" for m, s in result.model_seconds.items()
            ),
            flush=True,
        )
    return seconds, cpu


def run(
    url: str, accounts: int, years: int, users: int = 1, base_change: bool = False
) -> dict[str, tuple[float, float]]:
    engine = get_engine(url)
    watch_server(engine)
    started = time.perf_counter()
    with engine.begin() as connection:
        user_ids = [
            populate(
                connection,
                username="bench" if n == 0 else f"bench-{n + 1}",
                accounts=accounts,
                years=years,
            )
            for n in range(users)
        ]
        snapshots = connection.execute(select(func.count()).select_from(account_snapshots)).scalar()
    if engine.dialect.name == "postgresql":
        # What autovacuum does within a minute of a bulk load: the planner's statistics.
        with engine.connect() as connection:
            connection.execution_options(isolation_level="AUTOCOMMIT").execute(text("ANALYZE"))
    print(
        f"  populated {snapshots:,} snapshots in {time.perf_counter() - started:.1f} s",
        file=sys.stderr,
    )
    figures = {
        "scratch": timed("scratch", lambda: build_marts(engine, as_of=END), snapshots),
        "noop": timed("noop", lambda: build_marts(engine, as_of=END)),
    }
    for user_id in user_ids:
        add_day(engine, user_id, END + timedelta(days=1))
    figures["one new day"] = timed(
        "one new day", lambda: build_marts(engine, as_of=END + timedelta(days=1))
    )
    back_date(engine, user_ids[0], END - timedelta(days=365))
    figures["back-dated"] = timed(
        "back-dated", lambda: build_marts(engine, as_of=END + timedelta(days=1))
    )
    figures["full"] = timed(
        "full", lambda: build_marts(engine, as_of=END + timedelta(days=1), full=True), snapshots
    )
    if base_change:
        rates = insert_rates(
            engine, END - timedelta(days=365 * years + 14), END + timedelta(days=1)
        )
        print(f"  {rates:,} EUR rates (USD, CHF) inserted for the span", file=sys.stderr)
        figures["base change"] = change_base_currency(url, user_ids[0])
    return figures


def insert_rates(engine: Engine, start: date, end: date) -> int:
    """ECB-like EUR rates for USD and CHF on every weekday of [start, end] (weekends take
    Friday's, as with the ECB's own): a base-currency change then converts every row, as a
    real one does. Exact Decimals, moving a little from day to day."""
    rows = []
    day = start
    while day <= end:
        if day.weekday() < 5:
            wobble = Decimal(day.toordinal() % 97) / 10_000
            for quote, rate in (("USD", Decimal("1.0850")), ("CHF", Decimal("0.9420"))):
                rows.append(
                    {
                        "rate_date": day,
                        "base_currency": "EUR",
                        "quote_currency": quote,
                        "rate": rate + wobble,
                        "source": "bench",
                    }
                )
        day += timedelta(days=1)
    with engine.begin() as connection:
        connection.execute(insert(exchange_rates), rows)
    return len(rows)


def change_base_currency(url: str, user_id: int) -> tuple[float, float]:
    """EUR -> CHF for one user, in a fresh process (so its peak memory is the change's own):
    the profile change and the reconversion of all its snapshots and positions in one
    transaction, as `wealth users update --base-currency` does, then the marts. Prints the
    time, the CPU and the process's peak RSS (its high-water mark, read from the kernel)."""
    context = multiprocessing.get_context("spawn")
    with context.Pool(1) as pool:
        figures = pool.apply(_change_base_currency, (url, user_id))
    print(
        f"  base change    {figures['seconds']:8.2f} s (cpu {figures['cpu']:.2f} s; reconversion "
        f"{figures['converted']:.2f} s, cpu {figures['converted_cpu']:.2f} s: "
        f"{figures['fixed']:,} snapshots, "
        f"{figures['positions']:,} positions, {figures['skipped']:,} without a rate; marts "
        f"{figures['seconds'] - figures['converted']:.2f} s, {figures['mart_rows']:,} rows)",
        flush=True,
    )
    print(
        f"      peak RSS of the process {figures['peak_mib']:.0f} MiB, through the "
        f"reconversion {figures['converted_peak_mib']:.0f} MiB "
        f"({figures['before_mib']:.0f} MiB before the change: imports, engine; target 300 MB "
        f"= {300e6 / 2**20:.0f} MiB), load {os.getloadavg()[0]:.2f}",
        flush=True,
    )
    return figures["seconds"], figures["cpu"]


def _peak_rss_mib() -> float:
    """The process's RSS high-water mark (VmHWM), MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _change_base_currency(url: str, user_id: int) -> dict[str, float]:
    global _server_engine
    from wealth_pipeline.conversions.convert import reconvert_user
    from wealth_pipeline.profiles import update_profile

    engine = get_engine(url)
    _server_engine = engine if engine.dialect.name == "postgresql" else None
    before = _peak_rss_mib()
    started, cpu, server = time.perf_counter(), time.process_time(), server_cpu()
    with engine.begin() as connection:
        update_profile(connection, user_id, base_currency="CHF")
        report = reconvert_user(connection, user_id)
    converted = time.perf_counter() - started
    converted_cpu = time.process_time() - cpu + server_cpu() - server
    converted_peak = _peak_rss_mib()
    built = build_marts(engine, as_of=END + timedelta(days=1))
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    cpu += server_cpu() - server
    return {
        "seconds": seconds,
        "cpu": cpu,
        "converted": converted,
        "converted_cpu": converted_cpu,
        "fixed": report.fixed,
        "positions": report.positions_fixed,
        "skipped": len(report.skipped),
        "mart_rows": sum(built.rows.values()),
        "peak_mib": _peak_rss_mib(),
        "converted_peak_mib": converted_peak,
        "before_mib": before,
    }


def scales(text_value: str) -> list[tuple[int, int]]:
    """`10x10,200x10` -> [(10, 10), (200, 10)] (accounts x years)."""
    return [tuple(int(n) for n in part.split("x")) for part in text_value.split(",")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=50)
    parser.add_argument("--years", type=int, default=10)
    parser.add_argument(
        "--scales",
        type=scales,
        help="several data sets side by side, e.g. 10x10,50x10,200x10,100x20 (accounts x "
        "years; overrides --accounts and --years); per-row costs are compared to the first",
    )
    parser.add_argument("--users", type=int, default=1, help="users, each with --accounts")
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--postgres-url", default=DEFAULT_PG)
    parser.add_argument(
        "--base-change", action="store_true", help="also time a base-currency change"
    )
    args = parser.parse_args()
    sets = args.scales or [(args.accounts, args.years)]
    print(f"marts: {args.users} user(s); machine load {os.getloadavg()[0]:.2f} at start")
    summary: dict[tuple[str, int, int], dict[str, tuple[float, float]]] = {}
    for backend in args.backends.split(","):
        for accounts, years in sets:
            print(f"{backend}: {accounts} accounts x {years} years", flush=True)
            if backend == "sqlite":
                with tempfile.TemporaryDirectory() as folder:
                    summary[backend, accounts, years] = run(
                        f"sqlite:///{folder}/bench.sqlite",
                        accounts,
                        years,
                        args.users,
                        args.base_change,
                    )
                    dispose_engines()
                continue
            with scratch_postgres(args.postgres_url, "bench_marts") as url:
                summary[backend, accounts, years] = run(
                    url, accounts, years, args.users, args.base_change
                )
    if len(sets) > 1:
        print("per-row cost of the full build against the first data set (the floor):")
        for backend in args.backends.split(","):
            base_accounts, base_years = sets[0]
            floor = summary[backend, base_accounts, base_years]["full"]
            floor_rows = base_accounts * base_years * 365
            for accounts, years in sets:
                full = summary[backend, accounts, years]["full"]
                rows = accounts * years * 365
                ratio_wall = (full[0] / rows) / (floor[0] / floor_rows)
                ratio_cpu = (full[1] / rows) / (floor[1] / floor_rows)
                print(
                    f"  {backend:<8} {accounts:>4} x {years:>2}: wall {full[0] / rows * 1e6:6.2f} "
                    f"us/row ({ratio_wall:.2f}x), cpu {full[1] / rows * 1e6:6.2f} us/row "
                    f"({ratio_cpu:.2f}x), back-dated {summary[backend, accounts, years]['back-dated'][0]:.2f} s"
                )


if __name__ == "__main__":
    main()
