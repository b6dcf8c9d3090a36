"""Benchmark: the dashboard's overview, cold, in Debian's headless Chromium.

    .venv/bin/python -m bench.dashboard                         # 20 accounts x 10 years, SQLite
    .venv/bin/python -m bench.dashboard --accounts 5 --years 1   # a quick smoke run

Data: `bench.marts.populate` (one user, ACCOUNTS accounts with a converted snapshot per day
for YEARS years), the marts built, `wealth api` in its own process. Each round opens a fresh
browser context (empty cache, no cookies) and measures with the browser's own clock
(`performance.now()`, from navigation start):

- `overview ms`: a one-time link opened until the overview has its figures and its
  net-worth chart drawn (the sign-in, the page, its scripts and the five API calls);
- `floor ms`: the same page opened without a session until its "Sign in" page is drawn:
  the page and its scripts with one API call, which no data can make faster;
- `api ms`: the overview's API calls (summary, changes, accounts, profile, a year of history)
  made one after another by a plain HTTP client on a warm connection.

Also the payload of the history for each chart range. Target: the overview usable in under
1 s on localhost with 10 years of daily history. Medians of `--rounds` rounds.
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.api import start_api, stop
from bench.marts import populate
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS
from tests.support.fakes.server import free_port
from wealth_pipeline.api.tokens import Tokens
from wealth_pipeline.marts import build_marts
from wealth_pipeline.security.signin_links import create_link_code
from wealth_pipeline.warehouse.engine import dispose_engines, get_engine

OVERVIEW_CALLS = (
    "/api/profile/",
    "/api/wealth/summary/",
    "/api/wealth/changes/",
    "/api/accounts/",
    "/api/wealth/history/?days=366",
)
RANGES = {"1M": 31, "1Y": 366, "5Y": 1827, "All": 36600}


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def measure(args: argparse.Namespace, home: Path) -> None:
    url = f"sqlite:///{home / 'warehouse.sqlite'}"
    engine = get_engine(url)
    log(f"populating {args.accounts} accounts x {args.years} years ...")
    with engine.begin() as connection:
        user_id = populate(connection, accounts=args.accounts, years=args.years)
    build_marts(engine, full=True)
    dispose_engines()
    key = secrets.token_hex(32)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = start_api(url, home, port, 1, key)
    try:
        token = Tokens(key.encode(), access_minutes=10, refresh_days=1).access_token(user_id, 1)
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=base, headers=headers) as client:
            for path in OVERVIEW_CALLS:
                client.get(path).raise_for_status()  # warm-up
            api_ms = []
            for _ in range(args.rounds):
                started = time.perf_counter()
                for path in OVERVIEW_CALLS:
                    client.get(path).raise_for_status()
                api_ms.append((time.perf_counter() - started) * 1000)
            sizes = {}
            for label, days in RANGES.items():
                points = "&points=800" if days > 366 else ""
                answer = client.get(f"/api/wealth/history/?days={days}{points}")
                sizes[label] = (len(answer.content), len(answer.json()["history"]))

        from playwright.sync_api import sync_playwright

        overview_ms, floor_ms = [], []
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            for round_number in range(args.rounds + 1):
                with engine.begin() as connection:
                    code = create_link_code(connection, user_id, 1)
                context = browser.new_context()
                page = context.new_page()
                page.goto(f"{base}/signin#code={code}")
                page.wait_for_selector("#net-worth-chart canvas", timeout=30_000)
                ready = page.evaluate("() => performance.now()")
                context.close()
                context = browser.new_context()
                page = context.new_page()
                page.goto(f"{base}/")
                page.wait_for_selector("main h1:has-text('Sign in')", timeout=30_000)
                floor = page.evaluate("() => performance.now()")
                context.close()
                if round_number:  # the first round warms the server and the disk cache
                    overview_ms.append(ready)
                    floor_ms.append(floor)
            browser.close()
    finally:
        stop(server)
        dispose_engines()

    days = args.years * 365
    print(f"dashboard overview, {args.accounts} accounts x {days} days, SQLite, cold browser context")
    print(f"{'figure':<28}{'median ms':>12}")
    print(f"{'overview ms':<28}{statistics.median(overview_ms):>12.0f}   target < 1000")
    print(f"{'floor ms (signed-out page)':<28}{statistics.median(floor_ms):>12.0f}")
    print(f"{'api ms (5 calls, warm)':<28}{statistics.median(api_ms):>12.0f}")
    print("history payload per range (bytes, points):")
    for label, (size, count) in sizes.items():
        print(f"  {label:<4}{size:>10,}{count:>8,}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=20)
    parser.add_argument("--years", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-dashboard-") as folder:
        measure(args, Path(folder))


if __name__ == "__main__":
    main()
