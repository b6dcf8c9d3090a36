"""Benchmark: rendering the weekly report for a user with a long history.

    .venv/bin/python -m bench.report                          # 50 accounts x 10 years, SQLite
    .venv/bin/python -m bench.report --accounts 10 --years 2 --renders 5
    .venv/bin/python -m bench.report --database-url postgresql+psycopg://postgres@127.0.0.1:5432/test

Data: `bench.marts.populate` (one user, daily snapshots of every account for YEARS years, every
fifth account with positions), marts built with `marts.build_marts`. Then the report is made
RENDERS times, each the whole per-user work of a send: read the marts (`load_report`), format,
render both templates and both charts (`render`) and assemble the MIME message. It prints the
first render (matplotlib loads its fonts once per process) and the median, min and max of the
later ones, split into reading and rendering. Target: under 1.5 s per user after the first.
Without --database-url everything lives in a temporary SQLite file that is removed; on a given
database the benchmark user is removed afterwards.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from email.message import EmailMessage
from pathlib import Path

from sqlalchemy import Engine, delete

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.marts import END, populate
from wealth_pipeline.marts import build_marts
from wealth_pipeline.report.facts import load_report
from wealth_pipeline.report.render import render
from wealth_pipeline.warehouse.engine import dispose_engines, get_engine
from wealth_pipeline.warehouse.schema import users


def render_once(engine: Engine, user_id: int) -> tuple[float, float, int, str]:
    """(seconds reading, seconds rendering incl. charts and MIME, message bytes, what)."""
    started = time.perf_counter()
    with engine.connect() as connection:
        report = load_report(connection, user_id, today=END)
    read = time.perf_counter()
    rendered = render(report)
    message = rendered.message(EmailMessage())
    size = len(bytes(message))
    what = (f"{len(report.accounts)} accounts, {len(report.history)} chart points, "
            f"total {rendered.context['total']} on {report.as_of}")  # fmt: skip
    return read - started, time.perf_counter() - read, size, what


def run(url: str, accounts: int, years: int, renders: int) -> None:
    engine = get_engine(url)
    username = f"bench-report-{uuid.uuid4().hex[:8]}"
    started = time.perf_counter()
    with engine.begin() as connection:
        user_id = populate(connection, username=username, accounts=accounts, years=years)
    print(f"  data: {time.perf_counter() - started:.1f} s", flush=True)
    try:
        started = time.perf_counter()
        build_marts(engine, as_of=END, users=[user_id])
        print(f"  marts built: {time.perf_counter() - started:.1f} s", flush=True)
        reader = get_engine(url, readonly=True)
        timings = [render_once(reader, user_id) for _ in range(renders)]
        first_read, first_render, size, what = timings[0]
        print(f"  report: {what}; message {size / 1024:.0f} KiB (text, HTML, 2 PNG charts)")
        print(f"  first render: {first_read + first_render:.3f} s "
              f"(read {first_read:.3f} s, render {first_render:.3f} s)")  # fmt: skip
        later = timings[1:]
        if later:
            totals = [r + w for r, w, _, _ in later]
            print(
                f"  later renders ({len(later)}): median {statistics.median(totals):.3f} s "
                f"(read {statistics.median(r for r, _, _, _ in later):.3f} s, "
                f"render {statistics.median(w for _, w, _, _ in later):.3f} s), "
                f"min {min(totals):.3f} s, max {max(totals):.3f} s; target < 1.5 s"
            )
    finally:
        with engine.begin() as connection:
            connection.execute(delete(users).where(users.c.id == user_id))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=50)
    parser.add_argument("--years", type=int, default=10)
    parser.add_argument("--renders", type=int, default=11, help="first + 10 measured")
    parser.add_argument("--database-url", help="default: a temporary SQLite file")
    args = parser.parse_args()
    print(f"report: 1 user, {args.accounts} accounts x {args.years} years of daily snapshots")
    if args.database_url:
        print(f"{get_engine(args.database_url).dialect.name}:", flush=True)
        run(args.database_url, args.accounts, args.years, args.renders)
    else:
        print("sqlite:", flush=True)
        with tempfile.TemporaryDirectory() as folder:
            run(f"sqlite:///{folder}/bench.sqlite", args.accounts, args.years, args.renders)
    dispose_engines()


if __name__ == "__main__":
    main()
