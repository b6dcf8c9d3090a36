"""The Monte Carlo model: pure numpy over floats (a model, not money).

Wealth is simulated in today's money (real terms) month by month: each month a path's wealth
grows by that month's growth factor, then the month's saving is added (or a withdrawal taken
out). With P_t the product of the first t growth factors the whole path is loop-free:

    W_t = P_t * (W_0 + sum_{k<t} c_k / P_{k+1})

so one cumulative product and one cumulative sum give every path and month at once. Once a
path runs out of money while withdrawing it stays at zero.

Precision: float64 throughout (about 15-16 significant digits), so a band value is exact to
the cent far beyond any net worth; money enters as Decimal and leaves as Decimal rounded
half-even to the cent (`service`). Probabilities are counts of paths, exact as fractions of
the number of paths; their sampling error is at most 0.5 / sqrt(paths) (0.5 percentage
points for 10,000 paths).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from wealth_pipeline.projection.assumptions import (
    ASSET_CLASSES,
    NOT_BLENDED,
    PERCENTILES,
    RISKY_CORRELATION,
    STOP_WORKING_SUCCESS,
)


def seed_for(user_id: int, week: str) -> int:
    """The same numbers for a user all week long (report, API and asset agree), new ones
    the next week."""
    digest = hashlib.sha256(f"wealth-projection:{user_id}:{week}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


@dataclass(frozen=True)
class Returns:
    """How monthly growth factors are drawn."""

    method: str  # "parametric" | "bootstrap"
    reason: str
    monthly_log_mean: float = 0.0  # parametric: log growth per month ~ N(mean, sd^2)
    monthly_log_sd: float = 0.0
    sample: tuple[float, ...] = ()  # bootstrap: the person's monthly real returns
    parameters: dict = field(default_factory=dict)


def parametric(
    real_return: float, volatility: float, reason: str, parameters: Mapping | None = None
) -> Returns:
    """Yearly real geometric mean and log volatility -> lognormal monthly growth: the median
    path grows at exactly (1 + real_return) a year."""
    if real_return <= -1:
        raise ValueError("a real return must be above -100 %")
    if volatility < 0:
        raise ValueError("a volatility cannot be negative")
    return Returns(
        method="parametric",
        reason=reason,
        monthly_log_mean=math.log1p(real_return) / 12,
        monthly_log_sd=volatility / math.sqrt(12),
        parameters={"real_return": real_return, "volatility": volatility, **(parameters or {})},
    )


def blend(amounts: Mapping[str, float]) -> tuple[float, float, dict[str, float]]:
    """The current allocation's yearly real return and volatility, from each asset class's
    assumption (`assumptions.ASSET_CLASSES`; unknown classes count as "other").

    The return is the weighted mean of the classes' log growth rates; the volatility is
    sqrt(w' S w) with a correlation of RISKY_CORRELATION between risky classes and none with
    cash. Debts are not blended (they stay in the starting wealth at their value). Without
    any asset the blend is all cash.
    """
    assets = {
        name: value for name, value in amounts.items() if name not in NOT_BLENDED and value > 0
    }
    total = sum(assets.values())
    if total <= 0:
        assets, total = {"cash": 1.0}, 1.0
    weights: dict[str, float] = {}
    for name, value in assets.items():
        key = name if name in ASSET_CLASSES else "other"
        weights[key] = weights.get(key, 0.0) + value / total
    names = sorted(weights)
    w = np.array([weights[n] for n in names])
    logs = np.array([math.log1p(ASSET_CLASSES[n].real_return) for n in names])
    vols = np.array([ASSET_CLASSES[n].volatility for n in names])
    risky = np.array([n != "cash" for n in names])
    correlation = np.where(np.outer(risky, risky), RISKY_CORRELATION, 0.0)
    np.fill_diagonal(correlation, 1.0)
    covariance = correlation * np.outer(vols, vols)
    real_return = math.expm1(float(w @ logs))
    volatility = math.sqrt(max(float(w @ covariance @ w), 0.0))
    return real_return, volatility, {n: round(weights[n], 6) for n in names}


def bootstrap(monthly_real_returns: np.ndarray | list[float], reason: str) -> Returns:
    sample = tuple(float(r) for r in monthly_real_returns)
    if not sample:
        raise ValueError("a bootstrap needs at least one monthly return")
    if min(sample) <= -1:
        raise ValueError("a monthly return of -100 % or worse cannot be resampled")
    array = np.log1p(np.array(sample))
    return Returns(
        method="bootstrap",
        reason=reason,
        sample=sample,
        parameters={
            "months": len(sample),
            # What the sample amounts to per year (for people; the draw uses the months).
            "real_return": math.expm1(float(array.mean()) * 12),
            "volatility": float(array.std(ddof=1)) * math.sqrt(12) if len(sample) > 1 else 0.0,
        },
    )


def growth_factors(returns: Returns, paths: int, months: int, seed: int) -> np.ndarray:
    """(months, paths) monthly growth factors (1 + real return), drawn with `seed`.

    Months are rows: every later step (cumulative products, percentiles per month) runs
    along contiguous memory."""
    rng = np.random.default_rng(seed)
    if returns.method == "bootstrap":
        sample = 1.0 + np.asarray(returns.sample)
        return sample[rng.integers(0, len(sample), size=(months, paths))]
    shocks = rng.standard_normal((months, paths))
    shocks *= returns.monthly_log_sd
    shocks += returns.monthly_log_mean
    return np.exp(shocks, out=shocks)


@dataclass(frozen=True)
class Schedule:
    """Monthly saving `saving`, from month `change_month` on `after_change` instead
    (negative: a withdrawal). None: no change."""

    saving: float
    change_month: int | None = None
    after_change: float = 0.0

    def contributions(self, months: int) -> np.ndarray:
        flows = np.full(months, self.saving, dtype=float)
        if self.change_month is not None:
            flows[max(self.change_month, 0) :] = self.after_change
        return flows


class Paths:
    """The drawn growth of every path, kept as cumulative products so each question (bands,
    a goal's saving search, the stop-working search) costs two vector passes, not a loop."""

    def __init__(self, growth: np.ndarray) -> None:
        # In place: the growth factors are not needed once multiplied up (48 MB saved).
        self.cumulative = np.cumprod(growth, axis=0, out=growth)
        self.months, self.count = growth.shape
        self._inverse_sums: np.ndarray | None = None

    def inverse_sums(self) -> np.ndarray:
        """(months, paths): row t-1 is A_t = sum_{k<t} 1 / P_{k+1}, what a saving of 1 a
        month is worth at month t in units of P_t (computed once, on first use)."""
        if self._inverse_sums is None:
            self._inverse_sums = np.cumsum(1.0 / self.cumulative, axis=0)
        return self._inverse_sums

    def wealth(
        self,
        start: float,
        contributions: np.ndarray,
        months: int | None = None,
        *,
        floor: bool = True,
    ) -> np.ndarray:
        """(months + 1, paths): row 0 is `start`. `floor`: a path that runs out while
        withdrawing stays at zero (without it, it goes on below zero: the same sign)."""
        months = self.months if months is None else months
        grown = self.cumulative[:months]
        flows = contributions[:months, None]
        result = np.empty((months + 1, self.count))
        result[0] = start
        later = result[1:]
        np.divide(flows, grown, out=later)
        np.cumsum(later, axis=0, out=later)
        later += start
        later *= grown
        withdrawing = flows[:, 0] < 0
        if floor and withdrawing.any():
            out = (later <= 0) & withdrawing[:, None]
            if start <= 0 and withdrawing[0]:
                out[0] = True
            depleted = np.logical_or.accumulate(out, axis=0)
            later[depleted] = 0.0
        return result


def bands(wealth: np.ndarray) -> np.ndarray:
    """(months + 1, 5): the 5th, 25th, 50th, 75th and 95th percentile of each month, as
    numpy's default ("linear") percentile computes them, from one sort per month (a sort
    along contiguous rows is several times faster than numpy's partition per column)."""
    ordered = np.sort(wealth, axis=1)
    positions = np.array(PERCENTILES) / 100 * (ordered.shape[1] - 1)
    low = np.floor(positions).astype(int)
    high = np.minimum(low + 1, ordered.shape[1] - 1)
    fraction = positions - low
    return ordered[:, low] * (1 - fraction) + ordered[:, high] * fraction


def first_months(wealth: np.ndarray, target: float) -> np.ndarray:
    """Per path, the first month wealth is at or above `target` (months + 1 if never)."""
    reached = wealth >= target
    first = reached.argmax(axis=0)
    first[~reached[first, np.arange(len(first))]] = wealth.shape[0]
    return first


def median_month(first: np.ndarray, horizon: int) -> int | None:
    """The month by which half of the paths have reached it, None if not within `horizon`."""
    ordered = np.sort(first)
    month = int(ordered[(len(ordered) + 1) // 2 - 1])
    return month if month <= horizon else None


def paths_reaching(
    paths: Paths, start: float, schedule: Schedule, target: float, month: int
) -> int:
    """How many paths reach `target` at any month up to `month` (month 0 included)."""
    if start >= target:
        return paths.count
    if month <= 0:
        return 0
    wealth = paths.wealth(start, schedule.contributions(month), month)
    return int((wealth >= target).any(axis=0).sum())


def needed(count: int, probability: float) -> int:
    """The number of paths that makes `probability` (rounded up: at least that share)."""
    return math.ceil(probability * count - 1e-9)


def saving_for(
    paths: Paths,
    start: float,
    schedule: Schedule,
    target: float,
    month: int,
    probability: float,
    *,
    ceiling: float = 1e9,
) -> float | None:
    """The least monthly saving (to the cent, from 0) reaching `target` by `month` in at
    least `probability` of the paths: a bisection over the saving with the same drawn paths
    (common random numbers, so the chance only grows with the saving). None: no saving up to
    `ceiling` a month does it (or the date is today)."""
    goal = needed(paths.count, probability)

    def enough(saving: float) -> bool:
        trial = Schedule(saving, schedule.change_month, schedule.after_change)
        return paths_reaching(paths, start, trial, target, month) >= goal

    if enough(0.0):
        return 0.0
    if month <= 0:
        return None
    high = max(abs(target - start) / month, 1.0)
    while not enough(high):
        high *= 2
        if high > ceiling:
            return None
    low = 0.0
    while high - low > 0.005:
        middle = (low + high) / 2
        if enough(middle):
            high = middle
        else:
            low = middle
    cents = math.ceil(high * 100 - 1e-6) / 100
    return cents if enough(cents) else cents + 0.01


def lasting_paths(
    paths: Paths, start: float, saving: float, spending: float, stop: int, horizon: int
) -> int:
    """Paths whose wealth stays above zero through `horizon` when saving `saving` a month
    until month `stop` and withdrawing `spending` (> 0) a month from then on.

    No simulation per question: with A_t = sum_{k<t} 1 / P_{k+1} (`Paths.inverse_sums`),
    wealth after the stop is W_t = P_t (W_0 + (saving + spending) A_stop - spending A_t).
    P_t > 0 and A_t grows with t, so the bracket only shrinks: wealth stays above zero
    through the horizon exactly when it is above zero at the horizon, one comparison per path.
    """
    sums = paths.inverse_sums()
    at_stop = sums[stop - 1] if stop > 0 else 0.0
    left = start + (saving + spending) * at_stop - spending * sums[horizon - 1]
    return int((left > 0).sum())


def stop_working_month(
    paths: Paths,
    start: float,
    saving: float,
    monthly_spending: float,
    horizon: int,
    success: float = STOP_WORKING_SUCCESS,
) -> int | None:
    """The earliest month from which withdrawing `monthly_spending` (today's money) leaves
    wealth above zero through `horizon` in at least `success` of the paths; None if no month
    before the horizon does.

    Per path, stopping a month later never hurts while saving >= -spending (one more month
    of saving instead of a withdrawal, and one withdrawal fewer), so the share of lasting
    paths only grows with the month and a bisection finds the earliest one exactly.
    """
    horizon = min(horizon, paths.months)
    if horizon <= 0:
        return None
    goal = needed(paths.count, success)

    def lasts(month: int) -> bool:
        return lasting_paths(paths, start, saving, monthly_spending, month, horizon) >= goal

    if lasts(0):
        return 0
    low, high = 0, horizon - 1
    if not lasts(high):
        return None
    while high - low > 1:
        middle = (low + high) // 2
        if lasts(middle):
            high = middle
        else:
            low = middle
    return high
