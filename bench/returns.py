"""Benchmark: what the returns marts add to the marts build.

    .venv/bin/python -m bench.returns                                # 50 accounts x 10 years, both backends
    .venv/bin/python -m bench.returns --accounts 10 --years 2 --backends sqlite

Data: `bench.marts.populate` (one user, ACCOUNTS accounts in EUR, USD and CHF with a snapshot
every day for YEARS years), plus monthly flows on every account: a deposit on the 1st, a
withdrawal in July, a dividend and its withholding tax every quarter on every third account,
converted at the same fixed rates, each account's flows known from the day before its first
snapshot (so every day is covered and gets a return). The snapshots not in EUR then get rates
that move from day to day (`vary_rates`), so their account-days have a currency effect to
work out, as real ones do.

On one warehouse per backend, in one run, after one full build of every mart (a warm-up, not
counted: so each timed full build replaces existing rows, as a real rebuild does, instead of
the first one writing into empty tables), it prints the wall time of `marts.build_marts`:
- `full, without returns`: `full=True`, the marts without returns: every model but the
  returns total (`mart_returns_daily`), and `mart_account_daily` as `bench/floor_models/`
  has it: the shipped model's carry-forward alone, its returns' columns left NULL;
- `full, with returns`: `full=True`, every shipped model (ROUNDS such pairs, alternating,
  default 5: the figures are the medians);
- `one new day, without returns`, then `... with returns`: a snapshot and a deposit for every
  account on the next day, the build through it (the second build rewrites the same day with
  the returns' columns and the total); DAYS such days one after the other (default 10), the
  mean of each: one build lasts tens of milliseconds, and the CPU time of PostgreSQL's
  backends is counted in ticks of 10 ms, so only a sum over many days says anything;
and the ratio `returns add` = (with - without) / without for both, in wall time and in CPU
time (this process's and, on PostgreSQL, its server backends': what other load barely moves).
Target: below 50 %.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from datetime import date, timedelta
from decimal import Decimal
from functools import partial
from pathlib import Path

from sqlalchemy import Connection, Engine, bindparam, insert, select, text, update

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.marts import DEFAULT_PG, END, TO_EUR, add_day, populate, timed, watch_server
from tests.support.postgres import scratch_postgres
from wealth_pipeline import money
from wealth_pipeline.marts import build_marts
from wealth_pipeline.marts.models import Model, default_models, parse_model
from wealth_pipeline.warehouse.engine import dispose_engines, get_engine
from wealth_pipeline.warehouse.schema import (
    account_snapshots,
    cash_flow_coverage,
    cash_flows,
    financial_accounts,
)
from wealth_pipeline.warehouse.types import Rate

# The marts without returns: the shipped models but the returns total, and the account mart
# without its returns' columns (`bench/floor_models/`: the same carry-forward, nothing else).
FLOOR_MODELS = Path(__file__).resolve().parent / "floor_models"
RETURNS_TOTAL = "mart_returns_daily"


def models_without_returns() -> list[Model]:
    floors = {model.name: model for model in map(parse_model, FLOOR_MODELS.glob("*.sql"))}
    return [
        floors.get(model.name, model) for model in default_models() if model.name != RETURNS_TOTAL
    ]


def flow_rows(account_id: int, n: int, currency: str, start: date, end: date) -> list[dict]:
    rate = TO_EUR[currency]
    rows = []

    def add(day: date, amount: str, kind: str) -> None:
        value = Decimal(amount)
        rows.append(
            {
                "account_id": account_id,
                "flow_date": day,
                "amount": value,
                "currency": currency,
                "kind": kind,
                "source": "import",
                "external_id": f"bench:{account_id}:{day}:{kind}",
                "base_currency": "EUR",
                "amount_base_currency": money.quantize(value * rate, money.AMOUNT_PLACES),
                "exchange_rate_used": rate,
                "rate_date": day,
            }
        )

    month = date(start.year, start.month, 1)
    while month <= end:
        if month >= start:
            add(month, str(200 + n), "deposit")
            if month.month == 7:
                add(month + timedelta(days=14), "-150", "withdrawal")
            if n % 3 == 0 and month.month in (3, 6, 9, 12):
                add(month + timedelta(days=20), "12.50", "dividend")
                add(month + timedelta(days=20), "-1.88", "tax")
        month = (month + timedelta(days=32)).replace(day=1)
    return rows


def add_flows(connection: Connection, user_id: int, years: int) -> int:
    start = END - timedelta(days=365 * years - 1)
    accounts = connection.execute(
        select(financial_accounts.c.id, financial_accounts.c.currency)
        .where(financial_accounts.c.user_id == user_id)
        .order_by(financial_accounts.c.id)
    ).all()
    count = 0
    for n, (account_id, currency) in enumerate(accounts):
        rows = flow_rows(account_id, n, currency, start, END)
        connection.execute(insert(cash_flows), rows)
        connection.execute(
            insert(cash_flow_coverage).values(
                account_id=account_id,
                covered_from=start - timedelta(days=1),
                covered_through=END + timedelta(days=1),
            )
        )
        count += len(rows)
    return count


def vary_rates(connection: Connection) -> None:
    """Move the rate of every snapshot not in EUR by up to 12 millionths from day to day, as
    real rates move: each such account-day then has a currency effect to work out (with the
    populated fixed rates, none would)."""
    s = account_snapshots.c
    step = bindparam("step", Decimal("0.000001"), type_=Rate())
    connection.execute(
        update(account_snapshots)
        .where(s.currency != "EUR")
        .values(exchange_rate_used=s.exchange_rate_used + (s.id % 13) * step)
    )


def add_flow_day(engine: Engine, user_id: int, day: date) -> None:
    with engine.begin() as connection:
        accounts = connection.execute(
            select(financial_accounts.c.id, financial_accounts.c.currency)
            .where(financial_accounts.c.user_id == user_id)
            .order_by(financial_accounts.c.id)
        ).all()
        rows = []
        for n, (account_id, currency) in enumerate(accounts):
            row = flow_rows(account_id, n, currency, day.replace(day=1), day)[0]
            rows.append(row | {"flow_date": day, "external_id": f"bench:new:{account_id}:{day}"})
        connection.execute(insert(cash_flows), rows)


def center(runs: list[tuple[float, float]], average=statistics.median) -> tuple[float, float]:
    """(wall, CPU) of timed runs, each averaged by `average` (median, or mean for the new days)."""
    return average(wall for wall, _ in runs), average(cpu for _, cpu in runs)


def run(
    url: str, accounts: int, years: int, new_days: int, rounds: int = 5
) -> dict[str, tuple[float, float]]:
    engine = get_engine(url)
    watch_server(engine)
    with engine.begin() as connection:
        user_id = populate(connection, accounts=accounts, years=years)
        flows = add_flows(connection, user_id, years)
        vary_rates(connection)
    if engine.dialect.name == "postgresql":
        with engine.connect() as connection:
            connection.execution_options(isolation_level="AUTOCOMMIT").execute(text("ANALYZE"))
    print(f"  {flows:,} cash flows", flush=True)
    every = list(default_models())
    base = models_without_returns()
    # Every mart filled once first, so both timed full builds replace existing rows, as a
    # full rebuild does (into empty tables, the first would write no dead rows and look cheap).
    timed("warm-up, full", lambda: build_marts(engine, as_of=END, full=True, models=every))
    # Full builds without and with returns alternate, ROUNDS pairs: the figures are the
    # medians (a shared machine moves one build's time by a third from run to run).
    fulls: dict[str, list[tuple[float, float]]] = {"without": [], "with": []}
    for n in range(1, rounds + 1):
        for what, models in (("without", base), ("with", every)):
            build = partial(build_marts, engine, as_of=END, full=True, models=models)
            fulls[what].append(timed(f"full {n}, {what}", build))
    figures = {f"full, {what} returns": center(runs) for what, runs in fulls.items()}
    days: dict[str, list[tuple[float, float]]] = {"without": [], "with": []}
    for n in range(1, new_days + 1):
        day = END + timedelta(days=n)
        add_day(engine, user_id, day)
        add_flow_day(engine, user_id, day)
        for what, models in (("without", base), ("with", every)):
            build = partial(build_marts, engine, as_of=day, models=models)
            days[what].append(timed(f"day {n}, {what}", build))
    for what, runs in days.items():
        figures[f"one new day, {what} returns"] = center(runs, statistics.fmean)
    for what in ("full", "one new day"):
        (wall, cpu), (wall_with, cpu_with) = (
            figures[f"{what}, without returns"],
            figures[f"{what}, with returns"],
        )
        print(
            f"  returns add {100 * (wall_with - wall) / wall:5.1f} % to the {what} build "
            f"(cpu {100 * (cpu_with - cpu) / cpu:5.1f} %; target < 50 %)",
            flush=True,
        )
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=50)
    parser.add_argument("--years", type=int, default=10)
    parser.add_argument("--days", type=int, default=10, help="new days built one by one")
    parser.add_argument("--rounds", type=int, default=5, help="full builds without and with")
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--postgres-url", default=DEFAULT_PG)
    args = parser.parse_args()
    print(f"returns: {args.accounts} accounts x {args.years} years, daily snapshots, monthly flows")
    for backend in args.backends.split(","):
        print(f"{backend}:", flush=True)
        if backend == "sqlite":
            with tempfile.TemporaryDirectory() as folder:
                run(
                    f"sqlite:///{folder}/bench.sqlite",
                    args.accounts,
                    args.years,
                    args.days,
                    args.rounds,
                )
                dispose_engines()
            continue
        with scratch_postgres(args.postgres_url, "bench_returns") as url:
            run(url, args.accounts, args.years, args.days, args.rounds)


if __name__ == "__main__":
    main()
