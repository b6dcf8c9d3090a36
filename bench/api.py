"""Benchmark: the marts and the read-only API for one user with a long history (issue 6).

    .venv/bin/python -m bench.api                      # SQLite, 50 accounts x 3,650 days
    .venv/bin/python -m bench.api --postgres           # the same on a PostgreSQL scratch database
    .venv/bin/python -m bench.api --accounts 10 --days 365 --duration 5    # a quick smoke run

Data: one user (base EUR) with ACCOUNTS manual accounts in EUR, USD, CHF and GBP, one
snapshot per account and day for DAYS days (50 x 3,650 = 182,500), converted when inserted
(synthetic ECB rates on weekdays), inserted set-based. Then:

1. `build_marts(full=True)`: the marts from scratch for that user;
2. one new day of snapshots for every account, then `build_marts()`: the incremental refresh;
3. `wealth api --workers 2` in its own processes, and `wrk` (10 connections, `--latency`)
   against /api/wealth/history/?days=3650, /api/wealth/summary/ and
   /api/wealth/breakdown/?by=broker with a valid access token: requests/s and latency
   percentiles. Targets: history p99 < 80 ms and >= 300 requests/s on a 2-core machine.

wrk and the server share the machine: the figures include wrk's own CPU. Everything it creates
(a temporary folder, the PostgreSQL scratch database, the server processes) is removed.
"""

from __future__ import annotations

import argparse
import base64
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import httpx
from sqlalchemy import create_engine, insert, text
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from wealth_pipeline import money
from wealth_pipeline.brokers.catalogue import get_broker, load_catalogue
from wealth_pipeline.fx.lookup import RateBook
from wealth_pipeline.marts import build_marts
from wealth_pipeline.security.kdf import KdfParams, derive_auth_hash
from wealth_pipeline.security.vault import create_user
from wealth_pipeline.snapshots.store import record_mart_change
from wealth_pipeline.warehouse.engine import dispose_engines, get_engine
from wealth_pipeline.warehouse.schema import account_snapshots, exchange_rates, financial_accounts

END = date(2025, 6, 30)
CURRENCIES = ("EUR", "USD", "CHF", "GBP")
PER_EURO = {"USD": 1.1, "CHF": 0.95, "GBP": 0.86}
TYPES = ("checking", "savings", "brokerage", "retirement")
PASSWORD = "bench password"
# The bench user's own Argon2 cost: logging in once is not what is measured.
CHEAP = KdfParams(time_cost=1, memory_kib=1024, parallelism=1)
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
ENDPOINTS = (
    "/api/wealth/history/?days=3650",
    "/api/wealth/summary/",
    "/api/wealth/breakdown/?by=broker",
)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def balance(account: int, day: date) -> Decimal:
    units = 100_000 * (account + 1) + (day.toordinal() * 7_919 + account * 104_729) % 500_000
    return Decimal(units).scaleb(-2)


def snapshot_rows(book: RateBook, accounts: list[tuple[int, str]], days: list[date]) -> list[dict]:
    rows = []
    for day in days:
        for index, (account_id, currency) in enumerate(accounts):
            amount = money.amount(balance(index, day))
            found = book.rate(currency, "EUR", day)
            rows.append(
                {
                    "account_id": account_id,
                    "snapshot_date": day,
                    "balance": amount,
                    "currency": currency,
                    "base_currency": "EUR",
                    "balance_base_currency": money.multiply(amount, found.rate, 4),
                    "exchange_rate_used": found.rate,
                    "rate_date": found.rate_date,
                    "snapshot_source": "manual",
                }
            )
    return rows


def populate(url: str, accounts_wanted: int, days: int) -> tuple[int, list[tuple[int, str]]]:
    engine = get_engine(url)
    first = END - timedelta(days=days - 1)
    with engine.begin() as connection:
        load_catalogue(connection)
        manual = get_broker(connection, "manual")
        assert manual is not None
        rates = []
        day = first - timedelta(days=20)
        while day <= END + timedelta(days=5):
            if day.weekday() < 5:
                wobble = (day.toordinal() % 89) / 1000
                for code, value in PER_EURO.items():
                    rates.append(
                        {
                            "rate_date": day,
                            "quote_currency": code,
                            "rate": money.quantize(
                                Decimal(str(round(value * (1 + wobble), 4))), 12
                            ),
                            "source": "bench",
                        }
                    )
            day += timedelta(days=1)
        connection.execute(insert(exchange_rates), rates)
        user_id = create_user(connection, "bench", PASSWORD, params=CHEAP)
        accounts = []
        for index in range(accounts_wanted):
            currency = CURRENCIES[index % len(CURRENCIES)]
            account_id = connection.execute(
                insert(financial_accounts)
                .values(
                    user_id=user_id,
                    broker_id=manual["id"],
                    name=f"Account {index + 1:02d}",
                    account_type=TYPES[index % len(TYPES)],
                    currency=currency,
                    is_manual=True,
                    sync_enabled=False,
                )
                .returning(financial_accounts.c.id)
            ).scalar_one()
            accounts.append((account_id, currency))
        book = RateBook.load(connection, first, END + timedelta(days=1), set(CURRENCIES))
        all_days = [first + timedelta(days=n) for n in range(days)]
        for start in range(0, len(all_days), 365):
            connection.execute(
                insert(account_snapshots),
                snapshot_rows(book, accounts, all_days[start : start + 365]),
            )
        record_mart_change(connection, user_id, first, "bench data")
    return user_id, accounts


def add_day(url: str, user_id: int, accounts: list[tuple[int, str]], day: date) -> None:
    engine = get_engine(url)
    with engine.begin() as connection:
        book = RateBook.load(connection, day, day, set(CURRENCIES))
        connection.execute(insert(account_snapshots), snapshot_rows(book, accounts, [day]))
        record_mart_change(connection, user_id, day, "bench new day")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_api(url: str, home: Path, port: int, workers: int) -> subprocess.Popen:
    env = {
        **os.environ,
        "WEALTH_HOME": str(home),
        "WEALTH_DATABASE_URL": url,
        "WEALTH_API_SECRET_KEY": secrets.token_urlsafe(48),
        "WEALTH_API_ACCESS_TOKEN_MINUTES": "120",
        "WEALTH_API_PORT": str(port),
    }
    wealth = Path(sys.executable).with_name("wealth")
    command = (
        [str(wealth)]
        if wealth.exists()
        else [sys.executable, "-c", "from wealth_pipeline.cli import main; main()"]
    )
    server = subprocess.Popen(
        [*command, "api", "--workers", str(workers)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"wealth api exited: {server.stderr.read().decode()[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/schema", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError("wealth api did not answer within 60 s")


def stop(server: subprocess.Popen) -> None:
    if server.poll() is None:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


def access_token(base: str) -> str:
    salts = httpx.get(f"{base}/api/auth/salt/", params={"username": "bench"}).json()
    derived = derive_auth_hash(
        PASSWORD, bytes.fromhex(salts["auth_salt"]), KdfParams.from_json(salts["kdf_params"])
    )
    answer = httpx.post(
        f"{base}/api/auth/login/",
        json={"username": "bench", "auth_hash": base64.b64encode(derived).decode()},
    )
    answer.raise_for_status()
    return answer.json()["access"]


UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def run_wrk(url: str, token: str, duration: int, connections: int) -> dict[str, float]:
    output = subprocess.run(
        [
            "wrk",
            f"-t{min(2, connections)}",
            f"-c{connections}",
            f"-d{duration}s",
            "--latency",
            "-H",
            f"Authorization: Bearer {token}",
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    figures: dict[str, float] = {}
    for percentile, value, unit in re.findall(
        r"^\s+(50|75|90|99)%\s+([\d.]+)(us|ms|s)\s*$", output, re.M
    ):
        figures[f"p{percentile}"] = float(value) * UNITS[unit]
    figures["rps"] = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    figures["requests"] = float(re.search(r"(\d+) requests in", output).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    figures["non_2xx"] = float(errors.group(1)) if errors else 0.0
    socket_errors = re.search(r"Socket errors: (.*)", output)
    if socket_errors:
        log(f"wrk socket errors: {socket_errors.group(1)}")
    return figures


def run(url: str, args: argparse.Namespace, home: Path) -> None:
    backend = make_url(url).get_backend_name()
    started = time.perf_counter()
    user_id, accounts = populate(url, args.accounts, args.days)
    count = len(accounts) * args.days
    log(f"[{backend}] {count:,} snapshots inserted in {time.perf_counter() - started:.1f} s")

    engine = get_engine(url)
    started = time.perf_counter()
    report = build_marts(engine, as_of=END, full=True)
    scratch = time.perf_counter() - started
    rows = sum(report.rows.values())
    print(f"[{backend}] marts from scratch: {scratch:.2f} s ({rows:,} rows, {count:,} snapshots)")
    add_day(url, user_id, accounts, END + timedelta(days=1))
    started = time.perf_counter()
    report = build_marts(engine, as_of=END + timedelta(days=1))
    refresh = time.perf_counter() - started
    print(
        f"[{backend}] marts refresh after one new day: {refresh:.2f} s "
        f"({sum(report.rows.values()):,} rows)"
    )
    dispose_engines()

    port = free_port()
    server = start_api(url, home, port, args.workers)
    try:
        base = f"http://127.0.0.1:{port}"
        token = access_token(base)
        headers = {"Authorization": f"Bearer {token}"}
        history = httpx.get(f"{base}{ENDPOINTS[0]}", headers=headers).json()
        log(
            f"history: {len(history['history'])} points, {history['start_date']}..{history['end_date']}"
        )
        for path in ENDPOINTS:
            answer = httpx.get(f"{base}{path}", headers=headers)
            assert answer.status_code == 200, (path, answer.status_code, answer.text[:200])
            run_wrk(f"{base}{path}", token, 2, args.connections)  # warm-up
            figures = run_wrk(f"{base}{path}", token, args.duration, args.connections)
            load = os.getloadavg()[0]
            print(
                f"[{backend}] {path:<34} {figures['rps']:8.1f} req/s  "
                f"p50 {figures['p50']:6.2f} ms  p90 {figures['p90']:6.2f} ms  "
                f"p99 {figures['p99']:6.2f} ms  ({len(answer.content):,} bytes, "
                f"non-2xx {int(figures['non_2xx'])}, load {load:.2f})",
                flush=True,
            )
    finally:
        stop(server)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--postgres", action="store_true", help="PostgreSQL instead of SQLite")
    parser.add_argument(
        "--postgres-url", default=os.environ.get("WEALTH_TEST_POSTGRES_URL", DEFAULT_PG)
    )
    parser.add_argument("--accounts", type=int, default=50)
    parser.add_argument("--days", type=int, default=3650)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--connections", type=int, default=10)
    parser.add_argument("--duration", type=int, default=15, help="seconds of wrk per endpoint")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        parser.error("wrk is not installed (Debian package wrk)")
    print(f"machine: {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f} at start")
    with tempfile.TemporaryDirectory(prefix="bench_api_") as folder:
        home = Path(folder)
        if not args.postgres:
            run(f"sqlite:///{home / 'warehouse.sqlite'}", args, home)
            return
        admin = create_engine(args.postgres_url, isolation_level="AUTOCOMMIT")
        name = f"bench_api_{uuid.uuid4().hex[:10]}"
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            url = (
                make_url(args.postgres_url).set(database=name).render_as_string(hide_password=False)
            )
            run(url, args, home)
        finally:
            dispose_engines()
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()


if __name__ == "__main__":
    main()
