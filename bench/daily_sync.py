"""Benchmark: one daily sync of many accounts at slow fake brokers, end to end, per backend.

    .venv/bin/python -m bench.daily_sync [--accounts 200] [--brokers 5] [--latency-ms 200]
        [--per-broker 4] [--workers 20] [--users 20] [--backends sqlite,postgres]
        [--postgres-url URL] [--shared-tls] [--servers-in-process] [--profile]

Each broker is a real local HTTP server (a `tests.support.fakes.server.FakeService` subclass below)
that answers every call after `--latency-ms`; a small integration registered here under the
codes `bench_sync_0..` logs in, reads the balance and reads the positions: three HTTP calls
per account. The warehouse gets users with auto-sync on (data keys sealed to a fresh sync
key), accounts with encrypted credentials spread round-robin over the brokers, and the ECB
rates around the day; then `wealth_pipeline.sync.runner.run_sync` syncs the day with
WEALTH_SYNC_MAX_WORKERS / WEALTH_SYNC_MAX_PER_BROKER set from the options.

Argon2id is made cheap for the setup (WEALTH_ARGON2_TIME_COST=1, WEALTH_ARGON2_MEMORY_KIB=1024,
WEALTH_ARGON2_PARALLELISM=1): the sync itself derives no password keys (it opens the sealed
data keys with the X25519 sync key), so this only shortens the setup.

Scratch databases (bench_*) and temporary directories are removed at the end.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import ssl
import sys
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # also runnable as `python bench/daily_sync.py`
    sys.path.insert(0, str(REPO))

# Before any wealth_pipeline import reads them (settings are read at call time, but be sure).
CHEAP_ARGON2 = {
    "WEALTH_ARGON2_TIME_COST": "1",
    "WEALTH_ARGON2_MEMORY_KIB": "1024",
    "WEALTH_ARGON2_PARALLELISM": "1",
}
os.environ.update(CHEAP_ARGON2)

import httpx  # noqa: E402
from sqlalchemy import Engine, create_engine, func, insert, select, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from tests.support.fakes.server import FakeService, Request, Response  # noqa: E402
from wealth_pipeline import http  # noqa: E402
from wealth_pipeline.brokers import webapi  # noqa: E402
from wealth_pipeline.brokers.base import (  # noqa: E402
    AccountInfo,
    AuthResult,
    BalanceInfo,
    BrokerIntegrationBase,
    PositionInfo,
    http_error,
)
from wealth_pipeline.brokers.registry import register  # noqa: E402

DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
SYNC_DAY = date(2026, 10, 29)  # a day of the shipped ECB excerpt (rates exist)
TARGET_SECONDS = 15.0
CALLS_PER_ACCOUNT = 3  # login, balance, positions
MAX_BROKERS = 20
PASSWORD = "bench daily sync passphrase"
PIN_FIELD = "pin"
SCHEMA = {
    "type": "object",
    "required": ["username", PIN_FIELD],
    "properties": {
        "username": {"type": "string", "minLength": 1},
        PIN_FIELD: {"type": "string", "minLength": 1, "format": "password"},
    },
    "additionalProperties": False,
}


# Set by --shared-tls: one ssl.SSLContext for every client (see the module's docstring).
SHARED_TLS: ssl.SSLContext | None = None


def progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --- the fake broker: a real HTTP server with a fixed latency -------------------------------


@dataclass
class Observed:
    """What one fake broker saw: calls, requests in flight, sessions open (login..positions)."""

    calls: int = 0
    in_flight: int = 0
    peak_in_flight: int = 0
    sessions: int = 0
    peak_sessions: int = 0
    logins: int = 0
    refused: int = 0
    open_tokens: set[str] = field(default_factory=set)


class SlowBroker(FakeService):
    """POST /login -> token; GET /accounts/{id}/balance, /accounts/{id}/positions (Bearer).

    Every call is answered after `latency` seconds. A session is open from its login until its
    positions are answered: the peak of open sessions is the concurrency of logins the
    broker saw.
    """

    def __init__(self, code: str, latency: float) -> None:
        super().__init__()
        self.code = code
        self.latency = latency
        self.seen = Observed()
        self._count = threading.Lock()

    def route(self, request: Request) -> Response:
        if request.path == "/_stats":  # the benchmark's own question, not counted
            with self._count:
                stats = {k: v for k, v in vars(self.seen).items() if k != "open_tokens"}
            return Response.json(stats)
        seen = self.seen
        with self._count:
            seen.calls += 1
            seen.in_flight += 1
            seen.peak_in_flight = max(seen.peak_in_flight, seen.in_flight)
            if request.path == "/login":
                seen.logins += 1
                seen.sessions += 1
                seen.peak_sessions = max(seen.peak_sessions, seen.sessions)
        try:
            time.sleep(self.latency)
            return self._answer(request)
        finally:
            with self._count:
                seen.in_flight -= 1

    def _end_session(self, token: str) -> None:
        with self._count:
            if token in self.seen.open_tokens:
                self.seen.open_tokens.discard(token)
                self.seen.sessions -= 1

    def _answer(self, request: Request) -> Response:
        if request.method == "POST" and request.path == "/login":
            body = request.json() or {}
            if pin_of(str(body.get("username", ""))) != body.get(PIN_FIELD):
                with self._count:
                    self.seen.refused += 1
                    self.seen.sessions -= 1
                return Response.json({"error": "bad credentials"}, 401)
            token = secrets.token_hex(8)
            with self._count:
                self.seen.open_tokens.add(token)
            return Response.json({"token": token})
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        with self._count:
            known = token in self.seen.open_tokens
        if not known:
            return Response.json({"error": "no session"}, 401)
        parts = request.path.strip("/").split("/")
        if len(parts) == 3 and parts[0] == "accounts" and parts[2] == "balance":
            return Response.json({"balance": "1234.56", "currency": "USD", "account": parts[1]})
        if len(parts) == 3 and parts[0] == "accounts" and parts[2] == "positions":
            self._end_session(token)
            return Response.json(
                {
                    "positions": [
                        {"symbol": "ACME", "name": "Acme", "quantity": "10", "price": "60.5",
                         "value": "605.00", "currency": "USD", "isin": "US0000000001",
                         "class": "equity"},
                        {"symbol": "CASH", "name": "Cash", "quantity": "1", "price": None,
                         "value": "629.56", "currency": "USD", "isin": None, "class": "cash"},
                    ]
                }
            )  # fmt: skip
        return Response.json({"error": "not found"}, 404)


def pin_of(username: str) -> str:
    return f"pin-{username}-secret"


def serve(codes: list[str], latency: float, urls: Any, stop: Any) -> None:
    """In a child process: start the fakes, send their URLs, serve until `stop` is set."""
    services = [SlowBroker(code, latency).start() for code in codes]
    urls.send([service.base_url for service in services])
    stop.wait()
    for service in services:
        service.stop()


class Brokers:
    """The fake brokers, in a child process (default: their CPU stays out of the sync's GIL,
    as a real bank's would) or in this one (`--servers-in-process`)."""

    def __init__(self, count: int, latency: float, in_process: bool) -> None:
        self.codes = list(BROKER_CODES[:count])
        self._services: list[SlowBroker] = []
        self._process: Any = None
        if in_process:
            self._services = [SlowBroker(code, latency).start() for code in self.codes]
            self.urls = [service.base_url for service in self._services]
            return
        import multiprocessing

        context = multiprocessing.get_context("spawn")
        receive, send = context.Pipe(duplex=False)
        self._stop = context.Event()
        self._process = context.Process(
            target=serve, args=(self.codes, latency, send, self._stop), daemon=True
        )
        self._process.start()
        self.urls = receive.recv()

    def stats(self) -> list[dict[str, int]]:
        return [httpx.get(f"{url}/_stats", timeout=10).json() for url in self.urls]

    def stop(self) -> None:
        for service in self._services:
            service.stop()
        if self._process is not None:
            self._stop.set()
            self._process.join(10)
            if self._process.is_alive():
                self._process.kill()


# --- the integration the sync builds for the fake brokers -------------------------------------


class BenchBroker(BrokerIntegrationBase):
    """login + balance + positions, each one HTTP call to `broker.api_base_url`."""

    secret_fields = (PIN_FIELD,)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # As the web-API integrations do (True Wealth, VIAC, Morgan Stanley): one client each.
        self._client = webapi.new_client(self.broker.api_base_url, self.context.timeout_seconds)
        if SHARED_TLS is not None:  # --shared-tls: the same, with one TLS context for all
            self._client.close()
            self._client = httpx.Client(
                base_url=self.broker.api_base_url.rstrip("/"),
                timeout=self.context.timeout_seconds,
                follow_redirects=False,
                headers={"User-Agent": webapi.USER_AGENT, "Accept": "application/json"},
                verify=SHARED_TLS,
            )
        self._token: str | None = None

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        headers = {"Authorization": f"Bearer {self._token}"} if self._token else None
        retry = self.context.retry if method == "GET" else http.Retry(max_attempts=1)
        try:
            response = http.request(
                self._client, method, path, headers=headers, retry=retry, **kwargs
            )
        except http.HttpFailure as exc:
            raise http_error(exc, self.broker.name) from None
        return response.json()

    def authenticate(self) -> AuthResult:
        answer = self._call(
            "POST",
            "/login",
            json={"username": self.credentials["username"], PIN_FIELD: self.credentials[PIN_FIELD]},
        )
        self._token = answer["token"]
        return AuthResult(success=True)

    def get_accounts(self) -> list[AccountInfo]:
        return []

    def get_balance(self, account_identifier: str) -> BalanceInfo:
        answer = self._call("GET", f"/accounts/{account_identifier}/balance")
        return BalanceInfo(
            Decimal(answer["balance"]), answer["currency"], self.context.current_day()
        )

    def get_positions(self, account_identifier: str) -> list[PositionInfo]:
        answer = self._call("GET", f"/accounts/{account_identifier}/positions")
        return [
            PositionInfo(
                symbol=p["symbol"],
                name=p["name"],
                quantity=Decimal(p["quantity"]),
                price_per_unit=None if p["price"] is None else Decimal(p["price"]),
                market_value=Decimal(p["value"]),
                currency=p["currency"],
                isin=p["isin"],
                asset_class=p["class"],
            )
            for p in answer["positions"]
        ]

    def close(self) -> None:
        self._client.close()


BROKER_CODES = tuple(f"bench_sync_{n}" for n in range(MAX_BROKERS))
register(*BROKER_CODES)(BenchBroker)


# --- scratch resources ----------------------------------------------------------------------


class Scratch:
    """One temporary directory and the PostgreSQL scratch databases, removed by `cleanup()`."""

    def __init__(self, postgres_url: str) -> None:
        self.postgres_url = postgres_url
        self.tag = uuid.uuid4().hex[:8]
        self.root = Path(tempfile.mkdtemp(prefix="bench_daily_sync_"))
        self.databases: list[str] = []
        self._admin: Engine | None = None

    def admin(self) -> Engine:
        if self._admin is None:
            self._admin = create_engine(self.postgres_url, isolation_level="AUTOCOMMIT")
        return self._admin

    def warehouse_url(self, backend: str) -> str:
        if backend == "sqlite":
            return f"sqlite:///{self.root / 'sqlite' / 'warehouse.sqlite'}"
        name = f"bench_daily_sync_{self.tag}"
        with self.admin().connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        self.databases.append(name)
        return make_url(self.postgres_url).set(database=name).render_as_string(hide_password=False)

    def cleanup(self) -> None:
        from wealth_pipeline.warehouse.engine import dispose_engines

        dispose_engines()
        if self.databases:
            with self.admin().connect() as connection:
                for name in self.databases:
                    connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            self.databases.clear()
        if self._admin is not None:
            self._admin.dispose()
        shutil.rmtree(self.root, ignore_errors=True)


# --- a sampling profiler over every thread (cProfile sees only the calling thread) --------------


class Sampler:
    """Every `interval` s, the stack of each thread: per function, the share of samples in
    which it is on the stack (inclusive), split into the sync's threads and the others."""

    def __init__(self, interval: float = 0.005) -> None:
        self.interval = interval
        self.samples: dict[str, int] = defaultdict(int)
        self.counts: dict[tuple[str, str], int] = defaultdict(int)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        me = threading.get_ident()
        names = {}
        while not self._stop.wait(self.interval):
            names = {t.ident: t.name for t in threading.enumerate()} | names
            for ident, frame in sys._current_frames().items():
                if ident == me:
                    continue
                group = "sync" if names.get(ident, "").startswith("sync") else "other"
                self.samples[group] += 1
                seen = set()
                while frame is not None:
                    code = frame.f_code
                    where = f"{Path(code.co_filename).name}:{code.co_name}"
                    if where not in seen:
                        seen.add(where)
                        self.counts[(group, where)] += 1
                    frame = frame.f_back

    def print_top(self, top: int) -> None:
        for group in ("sync", "other"):
            total = self.samples.get(group, 0)
            if not total:
                continue
            print(f"\n-- sampled stacks, {group} threads ({total} samples) --", file=sys.stderr)
            ranked = sorted(
                ((n, w) for (g, w), n in self.counts.items() if g == group), reverse=True
            )
            for count, where in ranked[:top]:
                print(f"{100 * count / total:6.1f}%  {where}", file=sys.stderr)


# --- one backend --------------------------------------------------------------------------------


@dataclass
class Result:
    backend: str
    accounts: int
    due: int
    synced: int
    failed: list[str]
    calls: int
    peak_logins: dict[str, int]
    peak_in_flight: dict[str, int]
    setup_seconds: float
    sync_seconds: float
    cpu_seconds: float
    snapshots: int
    positions: int
    converted: int


def build_world(engine: Engine, options: argparse.Namespace, fakes: Brokers, key_file: Path) -> int:
    """Users (auto-sync on), brokers pointing at the fakes, accounts, ECB rates; accounts made."""
    from wealth_pipeline.accounts import Owner, create_account
    from wealth_pipeline.brokers.catalogue import get_broker
    from wealth_pipeline.fx.sources import EcbFileRates
    from wealth_pipeline.fx.store import replace_rates
    from wealth_pipeline.security.sync_keys import (
        enable_auto_sync,
        generate_key_pair,
        load_public_key,
    )
    from wealth_pipeline.security.vault import create_user, encrypt_credentials, unlock
    from wealth_pipeline.settings import SHIPPED_ECB_EXCERPT
    from wealth_pipeline.warehouse.schema import brokers

    info = generate_key_pair(key_file)
    public_key = load_public_key(info.public_key_path)
    with engine.begin() as connection:
        published = EcbFileRates(location=str(SHIPPED_ECB_EXCERPT)).fetch(
            SYNC_DAY - timedelta(days=14), SYNC_DAY
        )
        replace_rates(connection, published)
        for code, base_url in zip(fakes.codes, fakes.urls, strict=True):
            connection.execute(
                insert(brokers).values(
                    code=code, name=f"Bench {code}", integration_type="rest",
                    api_base_url=base_url, supports_2fa=False, supports_auto_sync=True,
                    credential_schema=SCHEMA,
                )
            )  # fmt: skip
    users = max(1, min(options.users, options.accounts))
    unlocked = []
    for n in range(users):
        with engine.begin() as connection:
            user_id = create_user(connection, f"bench{n}", PASSWORD, base_currency="CHF")
            opened = unlock(connection, f"bench{n}", PASSWORD)
            enable_auto_sync(connection, opened, public_key)
            unlocked.append((Owner(user_id, f"bench{n}", "CHF"), opened))
    made = 0
    with engine.begin() as connection:
        rows = {code: get_broker(connection, code) for code in fakes.codes}
        for n in range(options.accounts):
            code = fakes.codes[n % len(fakes.codes)]
            owner, opened = unlocked[n % users]
            username = f"login{n}"
            create_account(
                connection, owner=owner, broker=rows[code], name=f"account {n}",
                account_type="brokerage", currency="USD", identifier=f"ACC{n:05d}",
                credentials={"username": username, PIN_FIELD: pin_of(username)},
                encrypt=lambda i, c, opened=opened: encrypt_credentials(opened, i, c),
            )  # fmt: skip
            made += 1
    return made


def count_rows(engine: Engine) -> tuple[int, int, int]:
    from wealth_pipeline.warehouse.schema import account_snapshots, portfolio_positions

    with engine.connect() as connection:
        snapshots = connection.execute(
            select(func.count())
            .select_from(account_snapshots)
            .where(account_snapshots.c.snapshot_date == SYNC_DAY)
        ).scalar_one()
        converted = connection.execute(
            select(func.count())
            .select_from(account_snapshots)
            .where(
                account_snapshots.c.snapshot_date == SYNC_DAY,
                account_snapshots.c.exchange_rate_used.is_not(None),
            )
        ).scalar_one()
        positions = connection.execute(
            select(func.count()).select_from(portfolio_positions)
        ).scalar_one()
    return snapshots, positions, converted


def run_backend(backend: str, scratch: Scratch, options: argparse.Namespace) -> Result:
    from wealth_pipeline.settings import load_settings
    from wealth_pipeline.sync.runner import run_sync
    from wealth_pipeline.warehouse.engine import get_engine

    started = time.perf_counter()
    home = scratch.root / backend
    home.mkdir(parents=True, exist_ok=True)
    url = scratch.warehouse_url(backend)
    key_file = home / "keys" / "sync_key.pem"
    os.environ.update(
        {
            "WEALTH_HOME": str(home),
            "WEALTH_DATABASE_URL": url,
            "WEALTH_SYNC_KEY_FILE": str(key_file),
            "WEALTH_SYNC_MAX_WORKERS": str(options.workers),
            "WEALTH_SYNC_MAX_PER_BROKER": str(options.per_broker),
            "WEALTH_2FA_WAIT_SECONDS": "0",
        }
    )
    latency = options.latency_ms / 1000
    fakes = Brokers(options.brokers, latency, options.servers_in_process)
    try:
        engine = get_engine(url)
        made = build_world(engine, options, fakes, key_file)
        setup_seconds = time.perf_counter() - started
        progress(f"{backend}: {made} accounts ready in {setup_seconds:.1f} s; syncing {SYNC_DAY}")
        settings = load_settings()
        sampler = Sampler() if options.profile else None
        cpu_before = time.process_time()
        begin = time.perf_counter()
        if sampler is not None:
            sampler.start()
        report = run_sync(engine, SYNC_DAY, settings=settings)
        sync_seconds = time.perf_counter() - begin
        cpu_seconds = time.process_time() - cpu_before
        if sampler is not None:
            sampler.stop()
            sampler.print_top(options.profile_top)
        snapshots, positions, converted = count_rows(engine)
        stats = fakes.stats()
        return Result(
            backend=backend,
            accounts=made,
            due=len(report.outcomes),
            synced=len(report.synced),
            failed=[o.describe() for o in report.outcomes if o.status != "success"],
            calls=sum(s["calls"] for s in stats),
            peak_logins={c: s["peak_sessions"] for c, s in zip(fakes.codes, stats, strict=True)},
            peak_in_flight={
                c: s["peak_in_flight"] for c, s in zip(fakes.codes, stats, strict=True)
            },
            setup_seconds=setup_seconds,
            sync_seconds=sync_seconds,
            cpu_seconds=cpu_seconds,
            snapshots=snapshots,
            positions=positions,
            converted=converted,
        )
    finally:
        fakes.stop()


# --- output ----------------------------------------------------------------------------------


def floor_seconds(options: argparse.Namespace) -> float:
    """Per broker: ceil(accounts / per_broker) rounds of 3 calls of the latency each."""
    per_broker = -(-options.accounts // options.brokers)
    rounds = -(-per_broker // options.per_broker)
    # the overall worker pool may be the tighter limit
    concurrent = min(options.workers, options.brokers * options.per_broker)
    rounds = max(rounds, -(-options.accounts // concurrent))
    return rounds * CALLS_PER_ACCOUNT * options.latency_ms / 1000


def print_result(result: Result, options: argparse.Namespace) -> None:
    rate = result.accounts / result.sync_seconds if result.sync_seconds else 0.0
    floor = floor_seconds(options)
    verdict = "met" if result.sync_seconds < TARGET_SECONDS else "MISSED"
    print(f"\n== {result.backend} ==")
    print(f"accounts                  {result.accounts} ({result.due} due, {result.synced} synced)")
    print(f"brokers                   {options.brokers}")
    print(
        f"calls                     {result.calls} (expected {CALLS_PER_ACCOUNT * result.accounts})"
    )
    print(
        "max concurrent logins     "
        + ", ".join(f"{code}={peak}" for code, peak in result.peak_logins.items())
        + f" (limit {options.per_broker})"
    )
    print(
        "max requests in flight    "
        + ", ".join(f"{code}={peak}" for code, peak in result.peak_in_flight.items())
    )
    print(f"rows written              {result.snapshots} snapshots ({result.converted} converted "
          f"to CHF), {result.positions} positions")  # fmt: skip
    print(f"setup s                   {result.setup_seconds:.2f} (users, keys, accounts, rates)")
    print(f"sync s (end to end)       {result.sync_seconds:.2f}")
    print(
        f"CPU s during the sync     {result.cpu_seconds:.2f} (this process: sync threads and "
        f"the fake servers; one GIL)"
    )
    print(f"accounts/s                {rate:.1f}")
    print(
        f"floor s                   {floor:.2f} (sync s / floor = {result.sync_seconds / floor:.2f})"
    )
    print(f"target                    < {TARGET_SECONDS:.0f} s: {verdict}")
    for line in result.failed[:10]:
        print(f"  not synced: {line}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--accounts", type=int, default=200)
    parser.add_argument("--brokers", type=int, default=5)
    parser.add_argument("--latency-ms", type=int, default=200)
    parser.add_argument("--per-broker", type=int, default=4)
    parser.add_argument("--workers", type=int, default=20)
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL)
    parser.add_argument(
        "--profile", action="store_true", help="sample every thread during the sync (stderr)"
    )
    parser.add_argument(
        "--servers-in-process",
        action="store_true",
        help="run the fake brokers in this process (their CPU then shares the sync's GIL)",
    )
    parser.add_argument("--profile-top", type=int, default=30)
    parser.add_argument(
        "--shared-tls",
        action="store_true",
        help="give every integration's httpx client one shared ssl.SSLContext",
    )
    options = parser.parse_args(argv)
    backends = [b.strip() for b in options.backends.split(",") if b.strip()]
    unknown = set(backends) - {"sqlite", "postgres"}
    if unknown:
        parser.error(f"unknown backends: {', '.join(sorted(unknown))}")
    if not 1 <= options.brokers <= MAX_BROKERS:
        parser.error(f"--brokers must be 1..{MAX_BROKERS}")
    if min(options.accounts, options.latency_ms + 1, options.per_broker, options.workers) < 1:
        parser.error("--accounts, --per-broker and --workers must be positive")

    if options.shared_tls:
        global SHARED_TLS
        SHARED_TLS = ssl.create_default_context()
    per_broker = -(-options.accounts // options.brokers)
    print(
        f"daily sync: {options.accounts} accounts over {options.brokers} fake brokers, "
        f"{options.latency_ms} ms per call, {CALLS_PER_ACCOUNT} calls per account, "
        f"at most {options.per_broker} logins per broker, {options.workers} workers, "
        f"{options.users} users"
    )
    print(
        "Argon2id made cheap for the setup: "
        + " ".join(f"{k}={v}" for k, v in CHEAP_ARGON2.items())
        + " (the sync opens sealed keys with X25519 and derives no password keys)"
    )
    print(
        f"floor: {options.accounts} accounts / {options.brokers} brokers = {per_broker} per "
        f"broker; {CALLS_PER_ACCOUNT} calls x {options.latency_ms} ms, {options.per_broker} at "
        f"a time -> {per_broker}/{options.per_broker} x "
        f"{CALLS_PER_ACCOUNT * options.latency_ms / 1000:g} = {floor_seconds(options):.2f} s"
    )
    scratch = Scratch(options.postgres_url)
    results = []
    try:
        for backend in backends:
            results.append(run_backend(backend, scratch, options))
            print_result(results[-1], options)
    finally:
        scratch.cleanup()
    missed = [r for r in results if r.sync_seconds >= TARGET_SECONDS or r.synced != r.accounts]
    return 1 if missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
