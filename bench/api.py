"""Benchmark: the marts and the read-only API for one user with a long history (issue 6).

    .venv/bin/python -m bench.api                      # SQLite, 50 accounts x 3,650 days
    .venv/bin/python -m bench.api --postgres           # the same on a PostgreSQL scratch database
    .venv/bin/python -m bench.api --accounts 10 --years 1 --duration 5     # a quick smoke run

Data: `bench.marts.populate` (one user, ACCOUNTS accounts with a converted snapshot per day
for YEARS years: 50 x 10 years = 182,500; every fifth account with positions), inserted
set-based. Then:

1. `build_marts(full=True)`: the marts from scratch for that user;
2. one new day of snapshots for every account, then `build_marts()`: the incremental refresh;
3. `wealth api --workers 2` in its own processes, and `wrk` (10 connections, `--latency`)
   against /api/wealth/history/?days=3650, /api/wealth/summary/ and
   /api/wealth/breakdown/?by=broker with a valid access token (signed with the server's key:
   logging in is not what is measured): requests/s and latency percentiles. Targets: history p99 < 80 ms and >= 300 requests/s on a 2-core machine.

wrk and the server share the machine: the figures include wrk's own CPU. Everything it creates
(a temporary folder, the PostgreSQL scratch database, the server processes) is removed.
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import httpx
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.marts import END, add_day, populate
from tests.support.fakes.server import free_port
from tests.support.postgres import scratch_postgres
from wealth_pipeline.api.tokens import Tokens
from wealth_pipeline.marts import build_marts
from wealth_pipeline.warehouse.engine import dispose_engines, get_engine

DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
# (label, API path, floor path or None)
ENDPOINTS = (
    ("history 3,650 days", "/api/wealth/history/?days=3650", "/history?days=3650"),
    ("history 7,300 days", "/api/wealth/history/?days=7300", "/history?days=7300"),
    ("summary", "/api/wealth/summary/", "/summary"),
    ("breakdown by broker", "/api/wealth/breakdown/?by=broker", None),
)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def start_floor(url: str, user_id: int, port: int, workers: int) -> subprocess.Popen:
    """`bench.api_floor` under uvicorn, as many workers as the API."""
    env = {**os.environ, "BENCH_FLOOR_URL": url, "BENCH_FLOOR_USER": str(user_id)}
    root = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "bench.api_floor:app",
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--no-access-log",
            "--log-level",
            "warning",
        ],
        env=env,
        cwd=root,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    _wait(server, f"http://127.0.0.1:{port}/history?days=1")
    return server


def _wait(server: subprocess.Popen, url: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"server exited: {server.stderr.read().decode()[-2000:]}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError("the server did not answer within 60 s")


def start_api(
    url: str, home: Path, port: int, workers: int, key: str, cache_mib: int = 32
) -> subprocess.Popen:
    env = {
        **os.environ,
        "WEALTH_HOME": str(home),
        "WEALTH_DATABASE_URL": url,
        "WEALTH_API_SECRET_KEY": key,
        "WEALTH_API_PORT": str(port),
        "WEALTH_API_ANSWER_CACHE_MIB": str(cache_mib),
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
    _wait(server, f"http://127.0.0.1:{port}/api/schema")
    return server


def stop(server: subprocess.Popen) -> None:
    if server.poll() is None:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def run_wrk(url: str, headers: dict[str, str], duration: int, connections: int) -> dict[str, float]:
    output = subprocess.run(
        [
            "wrk",
            f"-t{min(2, connections)}",
            f"-c{connections}",
            f"-d{duration}s",
            "--latency",
            *[part for name, value in headers.items() for part in ("-H", f"{name}: {value}")],
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
    engine = get_engine(url)
    started = time.perf_counter()
    with engine.begin() as connection:
        user_id = populate(connection, accounts=args.accounts, years=args.years)
    count = args.accounts * 365 * args.years
    log(f"[{backend}] {count:,} snapshots inserted in {time.perf_counter() - started:.1f} s")

    started = time.perf_counter()
    report = build_marts(engine, as_of=END, full=True)
    scratch = time.perf_counter() - started
    rows = sum(report.rows.values())
    print(f"[{backend}] marts from scratch: {scratch:.2f} s ({rows:,} rows, {count:,} snapshots)")
    add_day(engine, user_id, END + timedelta(days=1))
    started = time.perf_counter()
    report = build_marts(engine, as_of=END + timedelta(days=1))
    refresh = time.perf_counter() - started
    print(
        f"[{backend}] marts refresh after one new day: {refresh:.2f} s "
        f"({sum(report.rows.values()):,} rows)"
    )
    dispose_engines()

    key = secrets.token_urlsafe(48)
    token = Tokens(key.encode(), access_minutes=120, refresh_days=1).access_token(user_id, 1)
    auth = {"Authorization": f"Bearer {token}"}
    figures: dict[tuple[str, str], dict[str, float]] = {}

    def measure(kind: str, label: str, url: str, headers: dict[str, str]) -> None:
        run_wrk(url, headers, 2, args.connections)  # warm-up
        result = figures[kind, label] = run_wrk(url, headers, args.duration, args.connections)
        print(
            f"[{backend}] {kind:<12} {label:<22} {result['rps']:8.1f} req/s  "
            f"p50 {result['p50']:6.2f} ms  p99 {result['p99']:7.2f} ms  "
            f"(non-2xx/3xx {int(result['non_2xx'])}, load {os.getloadavg()[0]:.2f})",
            flush=True,
        )

    port = free_port()
    floor = start_floor(url, user_id, port, args.workers)
    try:
        for label, _path, floor_path in ENDPOINTS:
            if floor_path:
                measure("floor", label, f"http://127.0.0.1:{port}{floor_path}", {})
    finally:
        stop(floor)
    for kind, cache_mib in (("api", 0), ("api+cache", 32)):
        port = free_port()
        server = start_api(url, home, port, args.workers, key, cache_mib)
        try:
            base = f"http://127.0.0.1:{port}"
            for label, path, floor_path in ENDPOINTS:
                answer = httpx.get(f"{base}{path}", headers=auth)
                assert answer.status_code == 200, (path, answer.status_code, answer.text[:200])
                if floor_path and floor_path.startswith("/history"):
                    floor_body = _floor_body(url, user_id, floor_path)
                    assert answer.content == floor_body, "the floor's body differs"
                measure(kind, label, f"{base}{path}", auth)
            history = f"{base}{ENDPOINTS[0][1]}"
            tag = httpx.get(history, headers=auth).headers["etag"]
            assert httpx.get(history, headers={**auth, "If-None-Match": tag}).status_code == 304
            measure(kind, "history 3,650 (304)", history, {**auth, "If-None-Match": tag})
        finally:
            stop(server)
    _ratios(backend, figures)


def _floor_body(url: str, user_id: int, path: str) -> bytes:
    os.environ["BENCH_FLOOR_URL"], os.environ["BENCH_FLOOR_USER"] = url, str(user_id)
    import importlib

    import bench.api_floor as floor_module

    floor_module = importlib.reload(floor_module)
    return floor_module.history(int(path.split("days=")[1]))


def _ratios(backend: str, figures: dict[tuple[str, str], dict[str, float]]) -> None:
    print(f"[{backend}] side by side (throughput ratio to the floor; p99):")
    for label, _path, floor_path in ENDPOINTS:
        if not floor_path:
            continue
        floor = figures["floor", label]
        for kind in ("api", "api+cache"):
            mine = figures[kind, label]
            print(
                f"[{backend}]   {label:<22} {kind:<10} {mine['rps'] / floor['rps']:5.2f}x the floor "
                f"({mine['rps']:.0f} vs {floor['rps']:.0f} req/s), p99 {mine['p99']:.1f} ms "
                f"(floor {floor['p99']:.1f} ms)"
            )
    for kind in ("api", "api+cache"):
        full = figures[kind, "history 3,650 days"]
        conditional = figures[kind, "history 3,650 (304)"]
        print(
            f"[{backend}]   304 vs a full history answer, {kind:<10} "
            f"{conditional['rps'] / full['rps']:5.2f}x ({conditional['rps']:.0f} vs "
            f"{full['rps']:.0f} req/s)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--postgres", action="store_true", help="PostgreSQL instead of SQLite")
    parser.add_argument(
        "--postgres-url", default=os.environ.get("WEALTH_TEST_POSTGRES_URL", DEFAULT_PG)
    )
    parser.add_argument("--accounts", type=int, default=50)
    parser.add_argument("--years", type=int, default=20, help="of daily snapshots (365 days each)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--connections", type=int, default=10)
    parser.add_argument("--duration", type=int, default=10, help="seconds of wrk per endpoint")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        parser.error("wrk is not installed (Debian package wrk)")
    print(f"machine: {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f} at start")
    with tempfile.TemporaryDirectory(prefix="bench_api_") as folder:
        home = Path(folder)
        if not args.postgres:
            run(f"sqlite:///{home / 'warehouse.sqlite'}", args, home)
            return
        with scratch_postgres(args.postgres_url, "bench_api") as url:
            run(url, args, home)


if __name__ == "__main__":
    main()
