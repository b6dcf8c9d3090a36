"""Benchmark: the Monte Carlo projection, beside a plain numpy baseline.

    .venv/bin/python -m bench.projection                  # (a) one user x 7 rounds, (b) 100 users
    .venv/bin/python -m bench.projection --users 20 --rounds 3

(a) One user, 10,000 paths x 600 months: the model's whole simulation as the service runs
    it (`growth_factors`, `Paths`, `wealth` with a monthly saving and `bands`: the 5/25/50/75/95
    percentiles of every month), against the plainest loop-free numpy doing the same sums
    for the same shape in the same run: normal draws, `exp`, `cumprod`, the saving as a
    cumulative sum over the growth, and `np.percentile` per month. Median of ROUNDS, after one
    warm-up. Target: under 1 s.
(b) The whole weekly `wealth_projection` asset (`dagster.materialize`, one partition) for
    USERS users on a temporary SQLite warehouse, each with a net worth by asset class, half
    with a goal and a yearly spending (so the goal searches and the stop-working search run),
    beside USERS x the baseline of (a): what the asset adds per user over the raw simulation
    (reading, goals, stop working, writing 601 band rows per user, the check).

Everything lives in a temporary directory that is removed at the end.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import date
from decimal import Decimal
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from wealth_pipeline.projection import model
from wealth_pipeline.projection.assumptions import PATHS, PERCENTILES
from wealth_pipeline.warehouse.engine import dispose_engines, get_engine
from wealth_pipeline.warehouse.schema import (
    goals,
    mart_breakdowns,
    mart_net_worth_daily,
    profiles,
    projection_settings,
    users,
)

MONTHS = 600
AS_OF = date(2026, 11, 27)
PARTITION = "2026-11-30"  # ISO week 2026-W49


def baseline(seed: int, start: float = 250_000.0, saving: float = 1_000.0) -> np.ndarray:
    """The plainest loop-free numpy projection: the floor the model is measured against."""
    rng = np.random.default_rng(seed)
    growth = np.exp(rng.normal(np.log1p(0.04) / 12, 0.12 / np.sqrt(12), size=(PATHS, MONTHS)))
    grown = np.cumprod(growth, axis=1)
    wealth = grown * (start + np.cumsum(saving / grown, axis=1))
    return np.percentile(wealth, PERCENTILES, axis=0)


def ours(seed: int, start: float = 250_000.0, saving: float = 1_000.0) -> np.ndarray:
    returns = model.parametric(0.04, 0.12, "bench")
    paths = model.Paths(model.growth_factors(returns, PATHS, MONTHS, seed))
    return model.bands(paths.wealth(start, model.Schedule(saving).contributions(MONTHS)))


def timed(function, rounds: int) -> tuple[float, float, float]:
    function(0)  # warm-up
    times = []
    for round_ in range(1, rounds + 1):
        started = time.perf_counter()
        function(round_)
        times.append(time.perf_counter() - started)
    return statistics.median(times), min(times), max(times)


def populate(url: str, count: int) -> list[int]:
    engine = get_engine(url)
    ids = []
    with engine.begin() as connection:
        for index in range(count):
            user_id = connection.execute(
                users.insert().values(username=f"bench-projection-{index}").returning(users.c.id)
            ).scalar_one()
            connection.execute(profiles.insert().values(user_id=user_id))
            classes = {
                "equity": Decimal(100_000 + 1_000 * index),
                "fixed_income": Decimal(30_000),
                "cash": Decimal(20_000 + 10 * index),
            }
            for key, amount in classes.items():
                connection.execute(mart_breakdowns.insert().values(
                    user_id=user_id, dimension="asset_class", category_key=key, category=key,
                    as_of=AS_OF, base_currency="EUR", amount=amount,
                ))  # fmt: skip
            connection.execute(mart_net_worth_daily.insert().values(
                user_id=user_id, day=AS_OF, base_currency="EUR",
                total_wealth=sum(classes.values()), account_count=3,
            ))  # fmt: skip
            if index % 2 == 0:
                connection.execute(goals.insert().values(
                    user_id=user_id, name="House", target=Decimal(400_000),
                    target_date=date(2032, 6, 30),
                ))  # fmt: skip
                connection.execute(projection_settings.insert().values(
                    user_id=user_id, yearly_spending=Decimal(30_000), birth_year=1985,
                    monthly_saving=Decimal(1_500),
                ))  # fmt: skip
            ids.append(user_id)
    return ids


def weekly_asset(url: str) -> float:
    import dagster as dg

    from wealth_pipeline.projection.assets import wealth_projection
    from wealth_pipeline.warehouse.resource import WarehouseResource

    started = time.perf_counter()
    result = dg.materialize(
        [wealth_projection],
        partition_key=PARTITION,
        resources={"warehouse": WarehouseResource(database_url=url)},
        raise_on_error=True,
    )
    seconds = time.perf_counter() - started
    assert result.success
    [check] = result.get_asset_check_evaluations()
    assert check.passed, check.metadata
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()

    print(f"(a) one user, {PATHS:,} paths x {MONTHS} months, median of {args.rounds} rounds")
    base = timed(baseline, args.rounds)
    mine = timed(ours, args.rounds)
    print(f"  plain numpy baseline: {base[0]:.3f} s (min {base[1]:.3f}, max {base[2]:.3f})")
    print(f"  wealth_pipeline.projection.model: {mine[0]:.3f} s (min {mine[1]:.3f}, max {mine[2]:.3f})"
          f"  ratio {mine[0] / base[0]:.2f}x; target < 1 s: {'met' if mine[0] < 1 else 'NOT met'}")  # fmt: skip

    with tempfile.TemporaryDirectory(prefix="bench-projection-") as folder:
        url = f"sqlite:///{Path(folder) / 'warehouse.sqlite'}"
        populate(url, args.users)
        print(f"(b) the weekly asset for {args.users} users (half with a goal and a spending)",
              flush=True)  # fmt: skip
        asset = weekly_asset(url)
        floor = base[0] * args.users
        print(f"  baseline x {args.users}: {floor:.1f} s ({base[0]:.3f} s per user)")
        print(f"  wealth_projection asset: {asset:.1f} s ({asset / args.users:.3f} s per user)"
              f"  ratio {asset / floor:.2f}x")  # fmt: skip
        dispose_engines()


if __name__ == "__main__":
    main()
