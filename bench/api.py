"""Benchmark: the marts and the read-only API for one user with a long history.

    .venv/bin/python -m bench.api                      # SQLite, 50 accounts x 3,650 days
    .venv/bin/python -m bench.api --postgres           # the same on a PostgreSQL scratch database
    .venv/bin/python -m bench.api --accounts 10 --years 1 --duration 5     # a quick smoke run

Data: `bench.marts.populate` (one user, ACCOUNTS accounts with a converted snapshot per day
for YEARS years: 50 x 10 years = 182,500; every fifth account with positions), inserted
set-based. Then:

1. `build_marts(full=True)`: the marts from scratch for that user;
2. one new day of snapshots for every account, then `build_marts()`: the incremental refresh;
3. three servers side by side, each with `--workers 2` in its own processes: the floor
   (`bench.api_floor`: a raw ASGI app running the history's own SQL on the bare driver, its
   body checked byte-identical), the API without its answer cache (every request runs its
   queries: the per-request cost) and the API as shipped; then, per endpoint
   (/api/wealth/history/?days=3650 and 7300, /summary/, /breakdown/?by=broker, and the
   history with a current `If-None-Match`), `--rounds` rounds of `wrk` (10 connections,
   `--latency`) against each server in turn, the order turning each round, with a valid
   access token (signed with the server's key: logging in is not what is measured):
   requests/s, latency percentiles and the server processes' CPU per request (read from
   /proc: it barely moves with the machine's load, unlike throughput). The ratios are of the
   medians. Targets (history, 3,650 days, no answer cache): >= 0.8x the floor's throughput
   with p99 < 80 ms; a 304 at >= 3x a full answer.

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


def _wait(server: subprocess.Popen, url: str, headers: dict[str, str] | None = None) -> None:
    """Until `url` answers 200 (a loaded machine can take a minute to start two workers);
    a server that does not is stopped and its last words shown."""
    deadline = time.monotonic() + 180
    answer = None
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"server exited: {server.stderr.read().decode()[-2000:]}")
        try:
            answer = httpx.get(url, timeout=5, headers=headers)
            if answer.status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    stop(server)
    said = "" if answer is None else f" (last answer {answer.status_code}: {answer.text[:300]})"
    raise RuntimeError(
        f"the server did not answer 200 within 180 s{said}: {server.stderr.read().decode()[-2000:]}"
    )


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


def server_cpu(server: subprocess.Popen) -> float:
    """CPU seconds used so far by a server's processes (uvicorn's parent and its workers,
    one process group): per request, barely moved by other load on a shared machine."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == server.pid:  # the process group: the server's session leader
            total += (int(fields[11]) + int(fields[12])) / ticks
    return total


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
    figures["rps"] = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    figures["requests"] = float(re.search(r"(\d+) requests in", output).group(1))
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
    # (kind, label) -> one figure per round
    figures: dict[tuple[str, str], list[dict[str, float]]] = {}
    # All three servers run side by side; each round measures every kind one after the other
    # (the order turning round by round), so a change in the machine's load hits all alike.
    servers: dict[str, tuple[subprocess.Popen, str]] = {}
    try:
        port = free_port()
        servers["floor"] = (
            start_floor(url, user_id, port, args.workers),
            f"http://127.0.0.1:{port}",
        )
        for kind, cache_mib in (("api", 0), ("api+cache", 32)):
            port = free_port()
            server = start_api(url, home, port, args.workers, key, cache_mib)
            servers[kind] = (server, f"http://127.0.0.1:{port}")
        requests: list[tuple[str, str, str, dict[str, str]]] = []  # kind, label, url, headers
        for label, path, floor_path in ENDPOINTS:
            if floor_path:
                requests.append(("floor", label, servers["floor"][1] + floor_path, {}))
            for kind in ("api", "api+cache"):
                base = servers[kind][1]
                answer = httpx.get(f"{base}{path}", headers=auth)
                assert answer.status_code == 200, (path, answer.status_code, answer.text[:200])
                if floor_path and floor_path.startswith("/history"):
                    floor_body = _floor_body(url, user_id, floor_path)
                    assert answer.content == floor_body, "the floor's body differs"
                requests.append((kind, label, f"{base}{path}", auth))
        for kind in ("api", "api+cache"):
            history = servers[kind][1] + ENDPOINTS[0][1]
            tag = httpx.get(history, headers=auth).headers["etag"]
            conditional = {**auth, "If-None-Match": tag}
            assert httpx.get(history, headers=conditional).status_code == 304
            requests.append((kind, "history 3,650 (304)", history, conditional))
        labels = list(dict.fromkeys(label for _kind, label, _url, _headers in requests))
        for label in labels:
            group = [r for r in requests if r[1] == label]
            for _kind, _label, target, headers in group:
                run_wrk(target, headers, 2, args.connections)  # warm-up
            for round_number in range(args.rounds):
                ordered = group if round_number % 2 == 0 else group[::-1]
                for kind, _label, target, headers in ordered:
                    server = servers[kind][0]
                    cpu = server_cpu(server)
                    result = run_wrk(target, headers, args.duration, args.connections)
                    result["cpu_ms"] = (server_cpu(server) - cpu) * 1000 / result["requests"]
                    result["load"] = os.getloadavg()[0]
                    figures.setdefault((kind, label), []).append(result)
                    print(
                        f"[{backend}] {kind:<10} {label:<22} round {round_number + 1}: "
                        f"{result['rps']:8.1f} req/s  p50 {result['p50']:6.2f} ms  "
                        f"p99 {result['p99']:7.2f} ms  server cpu {result['cpu_ms']:.2f} ms/req "
                        f"(non-2xx/3xx {int(result['non_2xx'])}, load {result['load']:.2f})",
                        flush=True,
                    )
    finally:
        for server, _base in servers.values():
            stop(server)
    _ratios(backend, figures)


def _floor_body(url: str, user_id: int, path: str) -> bytes:
    os.environ["BENCH_FLOOR_URL"], os.environ["BENCH_FLOOR_USER"] = url, str(user_id)
    import importlib

    import bench.api_floor as floor_module

    floor_module = importlib.reload(floor_module)
    return floor_module.history(int(path.split("days=")[1]))


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def _ratios(backend: str, figures: dict[tuple[str, str], list[dict[str, float]]]) -> None:
    def median(kind: str, label: str, figure: str) -> float:
        return _median([result[figure] for result in figures[kind, label]])

    print(
        f"[{backend}] side by side, medians of the rounds (throughput ratio to the floor, and "
        "the floor's server CPU per request over ours: CPU barely moves with the load):"
    )
    for label, _path, floor_path in ENDPOINTS:
        if not floor_path:
            continue
        floor_rps, floor_cpu = median("floor", label, "rps"), median("floor", label, "cpu_ms")
        for kind in ("api", "api+cache"):
            rps, cpu = median(kind, label, "rps"), median(kind, label, "cpu_ms")
            per_round = " / ".join(
                f"{mine['rps'] / floor['rps']:.2f}"
                for mine, floor in zip(figures[kind, label], figures["floor", label], strict=True)
            )
            print(
                f"[{backend}]   {label:<22} {kind:<10} {rps / floor_rps:5.2f}x the floor "
                f"({rps:.0f} vs {floor_rps:.0f} req/s; per round {per_round}), "
                f"p99 {median(kind, label, 'p99'):.1f} ms (floor {median('floor', label, 'p99'):.1f} ms), "
                f"cpu {cpu:.2f} vs {floor_cpu:.2f} ms/req ({floor_cpu / cpu:.2f}x)"
            )
    for kind in ("api", "api+cache"):
        full = median(kind, "history 3,650 days", "rps")
        conditional = median(kind, "history 3,650 (304)", "rps")
        print(
            f"[{backend}]   304 vs a full history answer, {kind:<10} "
            f"{conditional / full:5.2f}x ({conditional:.0f} vs {full:.0f} req/s)"
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
    parser.add_argument("--duration", type=int, default=10, help="seconds of wrk per figure")
    parser.add_argument(
        "--rounds", type=int, default=3, help="rounds per endpoint (the figures are medians)"
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        parser.error("wrk is not installed (Debian package wrk)")
    print(f"machine: {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f} at start", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench_api_") as folder:
        home = Path(folder)
        if not args.postgres:
            run(f"sqlite:///{home / 'warehouse.sqlite'}", args, home)
            return
        with scratch_postgres(args.postgres_url, "bench_api") as url:
            run(url, args, home)


if __name__ == "__main__":
    main()
