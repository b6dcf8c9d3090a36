"""One user's projection: inputs from the marts and the returns work, the model run, the
answers (bands, goals, stop working), and their storage. The one service the CLI, the API,
the weekly report and the Dagster asset share.

Money crosses this boundary as `Decimal`: the start wealth and saving exactly (the saving
rounded half-even to the cent), band values and savings needed rounded half-even to the
cent from the model's float64 (see `model` for the precision). Month 0 is today's net worth
itself, not a simulated value.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from fractions import Fraction
from functools import lru_cache
from typing import Any

from dateutil.relativedelta import relativedelta
from sqlalchemy import Connection, delete, func, insert, select

from wealth_pipeline import money
from wealth_pipeline.projection import model
from wealth_pipeline.projection.assumptions import (
    ASSET_CLASSES,
    DEFAULT_INFLATION,
    DEFAULT_PLAN_UNTIL_AGE,
    MAX_MONTHS,
    PATHS,
    PERCENTILES,
    STOP_WORKING_SUCCESS,
    default_inflation,
)
from wealth_pipeline.projection.goals import Goal, ProjectionSettings, get_settings, list_goals
from wealth_pipeline.projection.inputs import (
    ProjectionInputError,
    Saving,
    choose_returns,
    load_series,
    median_saving,
    real_monthly_returns,
    spending_from_statements,
)
from wealth_pipeline.warehouse.schema import (
    mart_breakdowns,
    mart_net_worth_daily,
    profiles,
    projection_bands,
    projection_goal_results,
    projection_runs,
    users,
)

CENT = 2
LIMIT = Decimal(10**12)  # a saving or spending beyond a trillion is a typo
RULE_MULTIPLE = 25  # the "4 % rule" (Bengen 1994; the Trinity study, Cooley et al. 1998)


class NoProjection(LookupError):
    """Nothing to project from (no net worth in the marts yet); the message says why."""


def cents(value: float) -> Decimal:
    """A model value as money: half-even to the cent (repr is the float's shortest exact
    round-trip text, so nothing but this one rounding happens)."""
    return money.quantize(Decimal(repr(float(value))), CENT)


@dataclass(frozen=True)
class Band:
    month: int
    day: date
    values: tuple[Decimal, ...]  # at PERCENTILES

    def as_dict(self) -> dict[str, Any]:
        return {"month": self.month, "date": self.day.isoformat(),
                **{f"p{p}": str(v) for p, v in zip(PERCENTILES, self.values, strict=True)}}  # fmt: skip


@dataclass(frozen=True)
class GoalResult:
    goal: Goal
    paths: int
    paths_reaching: int
    median_date: date | None  # when half of the paths have reached it; None: not in 50 years
    saving_for_50: Decimal | None  # the monthly saving for a 50 % chance (None: out of reach)
    saving_for_80: Decimal | None
    at_date: tuple[Decimal, ...]  # the bands on the goal's date

    @property
    def probability(self) -> Fraction:
        return Fraction(self.paths_reaching, self.paths)

    def as_dict(self, current_saving: Decimal) -> dict[str, Any]:
        def more(needed: Decimal | None) -> str | None:
            return None if needed is None else str(max(needed - current_saving, Decimal("0.00")))

        return {
            "goal_id": self.goal.id,
            "name": self.goal.name,
            "target": str(money.quantize(self.goal.target, CENT)),
            "target_date": self.goal.target_date.isoformat(),
            "probability": str(money.quantize(self.probability, 4)),
            "paths": self.paths,
            "paths_reaching": self.paths_reaching,
            "median_date": None if self.median_date is None else self.median_date.isoformat(),
            "saving_for_50": None if self.saving_for_50 is None else str(self.saving_for_50),
            "saving_for_80": None if self.saving_for_80 is None else str(self.saving_for_80),
            "more_for_80": more(self.saving_for_80),
            "bands_at_date": {
                f"p{p}": str(v) for p, v in zip(PERCENTILES, self.at_date, strict=True)
            },
        }


@dataclass(frozen=True)
class StopWorking:
    yearly_spending: Decimal
    horizon_date: date
    horizon_reason: str
    success: float
    month: int | None  # months from now; None: not before the horizon
    day: date | None
    age: int | None
    rule_target: Decimal  # 25 x yearly spending
    rule_median_date: date | None  # when the median path reaches it
    spending_source: str = "your projection settings"

    def as_dict(self) -> dict[str, Any]:
        return {
            "yearly_spending": str(self.yearly_spending),
            "spending_source": self.spending_source,
            "monte_carlo": {
                "label": f"Monte Carlo: withdrawals last until {self.horizon_date.isoformat()} "
                f"in at least {self.success * 100:.0f} % of paths",
                "earliest_date": None if self.day is None else self.day.isoformat(),
                "months_from_now": self.month,
                "age": self.age,
                "horizon_date": self.horizon_date.isoformat(),
                "horizon": self.horizon_reason,
                "success_share": f"{self.success:.2f}",
            },
            "rule_of_25": {
                "label": "25x rule (4 % rule): wealth of 25 times the yearly spending",
                "target": str(self.rule_target),
                "median_date": None
                if self.rule_median_date is None
                else self.rule_median_date.isoformat(),
            },
        }


@dataclass
class Projection:
    user_id: int
    base_currency: str
    as_of: date
    week: str
    seed: int
    paths: int
    start_wealth: Decimal
    allocation: dict[str, Decimal]
    saving: Saving
    change_date: date | None
    after_change: Decimal | None
    returns: model.Returns
    inflation: Decimal
    bands: list[Band]
    goals: list[GoalResult] = field(default_factory=list)
    stop_working: StopWorking | None = None

    def inputs(self) -> dict[str, Any]:
        """Everything the numbers depend on: method, parameters, seed (for metadata, API)."""
        parameters = {
            key: (round(value, 6) if isinstance(value, float) else value)
            for key, value in self.returns.parameters.items()
        }
        return {
            "method": self.returns.method,
            "method_reason": self.returns.reason,
            "parameters": parameters,
            "seed": str(self.seed),
            "week": self.week,
            "paths": self.paths,
            "months": len(self.bands) - 1,
            "as_of": self.as_of.isoformat(),
            "start_wealth": str(self.start_wealth),
            "allocation": {name: str(amount) for name, amount in self.allocation.items()},
            "monthly_saving": str(self.saving.monthly),
            "saving_source": self.saving.source,
            "saving_detail": self.saving.detail,
            "saving_change_date": None
            if self.change_date is None
            else self.change_date.isoformat(),
            "saving_after_change": None if self.after_change is None else str(self.after_change),
            "inflation": str(self.inflation),
            "real_terms": True,
        }

    def as_dict(self) -> dict[str, Any]:
        return {
            "base_currency": self.base_currency,
            "as_of": self.as_of.isoformat(),
            "week": self.week,
            "inputs": self.inputs(),
            "percentiles": list(PERCENTILES),
            "bands": [band.as_dict() for band in self.bands],
            "goals": [goal.as_dict(self.saving.monthly) for goal in self.goals],
            "stop_working": None if self.stop_working is None else self.stop_working.as_dict(),
            "disclaimer": "A model of possible futures in today's money, not a forecast and "
            "not financial advice.",
        }


def months_until(start: date, end: date) -> int:
    """Whole months from `start` to `end` (start + n months <= end)."""
    months = (end.year - start.year) * 12 + end.month - start.month
    if start + relativedelta(months=months) > end:
        months -= 1
    return months


def allocation_of(connection: Connection, user_id: int) -> tuple[date, str, dict[str, Decimal]]:
    """Today's net worth by asset class (mart_breakdowns), its day and currency."""
    b = mart_breakdowns
    rows = connection.execute(
        select(b.c.category_key, b.c.amount, b.c.as_of, b.c.base_currency).where(
            b.c.user_id == user_id, b.c.dimension == "asset_class"
        )
    ).all()
    if not rows:
        raise NoProjection(
            "the marts hold no net worth for this user yet: add an account with a snapshot "
            "and build the marts (`wealth marts build`)"
        )
    return rows[0].as_of, rows[0].base_currency, {row.category_key: row.amount for row in rows}


def choose_saving(
    override: Decimal | None,
    settings: ProjectionSettings,
    flows,
    as_of: date,
) -> Saving:
    if override is not None:
        return Saving(
            money.quantize(override, CENT), "override", "given on the command line / request"
        )
    if settings.monthly_saving is not None:
        return Saving(
            money.quantize(settings.monthly_saving, CENT), "settings", "your projection settings"
        )
    median = median_saving(flows, as_of)
    if median is not None:
        return Saving(median, "flows", "the median net external flow of the last 12 months")
    detail = (
        "no cash-flow data yet: no saving assumed (set one with "
        "`wealth projection settings --monthly-saving`)"
    )
    return Saving(Decimal("0.00"), "none", detail)


@dataclass(frozen=True)
class Inputs:
    """Everything a projection depends on, read once (cheap queries): hashable, so the same
    inputs in the same week are simulated once per process (`simulate` is cached)."""

    user_id: int
    week: str
    as_of: date
    base_currency: str
    allocation: tuple[tuple[str, Decimal], ...]
    saving: Saving
    settings: ProjectionSettings
    goals: tuple[Goal, ...]
    own_real_returns: tuple[float, ...]
    method: str = "auto"
    inflation: Decimal = DEFAULT_INFLATION
    real_return: float | None = None
    volatility: float | None = None
    spending: Decimal | None = None
    spending_source: str = "none"
    paths: int = PATHS
    months: int = MAX_MONTHS


def gather(
    connection: Connection,
    user_id: int,
    week: str,
    *,
    saving: Decimal | None = None,
    method: str = "auto",
    inflation: Decimal | None = None,
    real_return: float | None = None,
    volatility: float | None = None,
    spending: Decimal | None = None,
    paths: int = PATHS,
    months: int = MAX_MONTHS,
) -> Inputs:
    as_of, currency, allocation = allocation_of(connection, user_id)
    try:
        inflation = default_inflation() if inflation is None else inflation
    except ValueError as exc:
        raise ProjectionInputError(str(exc)) from None
    if not Decimal("-0.5") < inflation < Decimal("1"):
        raise ProjectionInputError(f"inflation {inflation} is out of range (-50 % to 100 % a year)")
    for value, what in ((saving, "a monthly saving"), (spending, "a yearly spending")):
        if value is not None and not (value.is_finite() and abs(value) <= LIMIT):
            raise ProjectionInputError(f"{what} of {value} is out of range (at most {LIMIT:,})")
    if spending is not None and spending <= 0:
        raise ProjectionInputError("a yearly spending must be above zero")
    settings = get_settings(connection, user_id)
    flows, twr = load_series(connection, user_id)
    if spending is not None:
        source = "given for this projection"
    elif settings.yearly_spending is not None:
        spending, source = settings.yearly_spending, "your projection settings"
    else:
        spending = spending_from_statements(connection, user_id, as_of)
        source = "none" if spending is None else "your bank statements, the last 12 months"
    return Inputs(
        user_id=user_id,
        week=week,
        as_of=as_of,
        base_currency=currency,
        allocation=tuple(sorted(allocation.items())),
        saving=choose_saving(saving, settings, flows, as_of),
        settings=settings,
        goals=tuple(list_goals(connection, user_id)),
        own_real_returns=tuple(real_monthly_returns(twr, as_of, inflation)),
        method=method,
        inflation=inflation,
        real_return=real_return,
        volatility=volatility,
        spending=spending,
        spending_source=source,
        paths=paths,
        months=months,
    )


def project(connection: Connection, user_id: int, week: str, **overrides: Any) -> Projection:
    """The projection of `user_id` for ISO `week` (its seed): deterministic for a week."""
    return simulate(gather(connection, user_id, week, **overrides))


@lru_cache(maxsize=16)
def simulate(inputs: Inputs) -> Projection:
    allocation = dict(inputs.allocation)
    returns = choose_returns(
        inputs.method,
        allocation,
        list(inputs.own_real_returns),
        real_return=inputs.real_return,
        volatility=inputs.volatility,
    )
    as_of, months, settings = inputs.as_of, inputs.months, inputs.settings
    seed = model.seed_for(inputs.user_id, inputs.week)
    start = sum(allocation.values(), Decimal(0))
    change_month = None
    after = None
    if settings.saving_change_date is not None and settings.saving_after_change is not None:
        change_month = max(months_until(as_of, settings.saving_change_date), 0) + 1
        after = money.quantize(settings.saving_after_change, CENT)
    schedule = model.Schedule(
        float(inputs.saving.monthly), change_month, float(after) if after is not None else 0.0
    )
    drawn = model.Paths(model.growth_factors(returns, inputs.paths, months, seed))
    start_float = float(start)
    wealth = drawn.wealth(start_float, schedule.contributions(months))
    percentiles = model.bands(wealth)
    band_list = [Band(0, as_of, (start,) * len(PERCENTILES))]
    band_list.extend(
        Band(
            month, as_of + relativedelta(months=month), tuple(cents(v) for v in percentiles[month])
        )
        for month in range(1, months + 1)
    )
    projection = Projection(
        user_id=inputs.user_id, base_currency=inputs.base_currency, as_of=as_of,
        week=inputs.week, seed=seed, paths=inputs.paths, start_wealth=start,
        allocation=allocation, saving=inputs.saving, change_date=settings.saving_change_date,
        after_change=after, returns=returns, inflation=inputs.inflation, bands=band_list,
    )  # fmt: skip
    for goal in inputs.goals:
        projection.goals.append(_goal(goal, drawn, wealth, start_float, schedule, band_list, as_of))
    if inputs.spending is not None:
        projection.stop_working = _stop_working(
            money.quantize(inputs.spending, CENT), settings, drawn, start_float, inputs.saving,
            band_list, as_of, inputs.spending_source,
        )  # fmt: skip
    return projection


def _goal(goal: Goal, drawn: model.Paths, wealth, start: float, schedule: model.Schedule,
          bands: list[Band], as_of: date) -> GoalResult:  # fmt: skip
    target = float(goal.target)
    month = min(max(months_until(as_of, goal.target_date), 0), drawn.months)
    reaching = model.paths_reaching(drawn, start, schedule, target, month)
    median = model.median_month(model.first_months(wealth, target), drawn.months)

    def saving_for(probability: float) -> Decimal | None:
        found = model.saving_for(drawn, start, schedule, target, month, probability)
        return None if found is None else money.quantize(Decimal(repr(found)), CENT)

    return GoalResult(
        goal=goal,
        paths=drawn.count,
        paths_reaching=reaching,
        median_date=None if median is None else as_of + relativedelta(months=median),
        saving_for_50=saving_for(0.5),
        saving_for_80=saving_for(0.8),
        at_date=bands[month].values,
    )


def _stop_working(spending: Decimal, settings: ProjectionSettings, drawn: model.Paths,
                  start: float, saving: Saving, bands: list[Band], as_of: date,
                  source: str) -> StopWorking:  # fmt: skip
    until_age = settings.plan_until_age or DEFAULT_PLAN_UNTIL_AGE
    if settings.birth_year is not None:
        end = date(settings.birth_year + until_age, 12, 31)
        horizon = months_until(as_of, end)
        reason = f"until age {until_age}"
        if horizon > drawn.months:
            horizon = drawn.months
            reason += f" (cut at the model's {drawn.months // 12} years)"
    else:
        horizon = drawn.months
        reason = f"{drawn.months // 12} years (no birth year set)"
    horizon = max(horizon, 1)
    monthly = float(spending) / 12
    month = model.stop_working_month(drawn, start, float(saving.monthly), monthly, horizon)
    day = None if month is None else as_of + relativedelta(months=month)
    age = None
    if day is not None and settings.birth_year is not None:
        age = day.year - settings.birth_year
    rule = spending * RULE_MULTIPLE
    median_reached = next((b.day for b in bands if b.values[2] >= rule), None)
    return StopWorking(
        yearly_spending=spending,
        horizon_date=as_of + relativedelta(months=horizon),
        horizon_reason=reason,
        success=STOP_WORKING_SUCCESS,
        month=month,
        day=day,
        age=age,
        rule_target=rule,
        rule_median_date=median_reached,
        spending_source=source,
    )


# --- storage: what the weekly asset writes --------------------------------------------------


def store(connection: Connection, projection: Projection) -> int:
    """Replace the user's rows for the projection's week (idempotent); rows written."""
    key = {"user_id": projection.user_id, "week": projection.week}
    for table in (projection_goal_results, projection_bands, projection_runs):
        connection.execute(
            delete(table).where(
                table.c.user_id == projection.user_id, table.c.week == projection.week
            )
        )
    connection.execute(
        insert(projection_runs).values(
            **key,
            as_of=projection.as_of,
            base_currency=projection.base_currency,
            start_wealth=projection.start_wealth,
            monthly_saving=projection.saving.monthly,
            method=projection.returns.method,
            seed=str(projection.seed),
            inputs=projection.inputs(),
            stop_working=None
            if projection.stop_working is None
            else projection.stop_working.as_dict(),
        )
    )
    names = [f"p{p}" for p in PERCENTILES]
    connection.execute(
        insert(projection_bands),
        [{**key, "month": b.month, "day": b.day, **dict(zip(names, b.values, strict=True))}
         for b in projection.bands],
    )  # fmt: skip
    if projection.goals:
        connection.execute(
            insert(projection_goal_results),
            [
                {
                    **key,
                    "goal_id": g.goal.id,
                    "name": g.goal.name,
                    "target": g.goal.target,
                    "target_date": g.goal.target_date,
                    "paths": g.paths,
                    "paths_reaching": g.paths_reaching,
                    "median_date": g.median_date,
                    "saving_for_50": g.saving_for_50,
                    "saving_for_80": g.saving_for_80,
                    **dict(zip(names, g.at_date, strict=True)),
                }
                for g in projection.goals
            ],
        )
    return 1 + len(projection.bands) + len(projection.goals)


def users_with_net_worth(connection: Connection) -> list[int]:
    return list(
        connection.execute(
            select(mart_breakdowns.c.user_id)
            .where(mart_breakdowns.c.dimension == "asset_class")
            .distinct()
            .order_by(mart_breakdowns.c.user_id)
        ).scalars()
    )


def band_problems(connection: Connection, week: str) -> list[dict[str, Any]]:
    """What the asset check finds for `week`: bands out of order, or a month 0 that is not
    the net worth of the projection's day in mart_net_worth_daily."""
    problems: list[dict[str, Any]] = []
    b = projection_bands
    for row in connection.execute(
        select(b.c.user_id, b.c.month, b.c.p5, b.c.p25, b.c.p50, b.c.p75, b.c.p95)
        .where(b.c.week == week, ~((b.c.p5 <= b.c.p25) & (b.c.p25 <= b.c.p50)
                                   & (b.c.p50 <= b.c.p75) & (b.c.p75 <= b.c.p95)))
        .limit(20)
    ):  # fmt: skip
        problems.append(
            {"user_id": row.user_id, "month": row.month, "problem": "bands out of order"}
        )
    r, n = projection_runs, mart_net_worth_daily
    month0 = (
        select(r.c.user_id, r.c.as_of, b.c.p5, b.c.p95, n.c.total_wealth)
        .join(b, (b.c.user_id == r.c.user_id) & (b.c.week == r.c.week) & (b.c.month == 0))
        .outerjoin(n, (n.c.user_id == r.c.user_id) & (n.c.day == r.c.as_of))
        .where(r.c.week == week)
    )
    for row in connection.execute(month0):
        if row.total_wealth is None or not row.p5 == row.p95 == row.total_wealth:
            problems.append({
                "user_id": row.user_id, "month": 0,
                "problem": f"month 0 is {row.p5}..{row.p95}, net worth on {row.as_of} is {row.total_wealth}",
            })  # fmt: skip
    return problems


def base_currency_of(connection: Connection, user_id: int) -> str | None:
    return connection.execute(
        select(profiles.c.base_currency).where(profiles.c.user_id == user_id)
    ).scalar()


def username_of(connection: Connection, user_id: int) -> str | None:
    return connection.execute(select(users.c.username).where(users.c.id == user_id)).scalar()


def count_runs(connection: Connection, week: str) -> int:
    return connection.execute(
        select(func.count()).select_from(projection_runs).where(projection_runs.c.week == week)
    ).scalar_one()


def describe_class(name: str) -> str:
    assumption = ASSET_CLASSES.get(name)
    if assumption is None:
        return f"{name}: not blended"
    return (
        f"{name}: {assumption.real_return * 100:.1f} % real a year, volatility {assumption.volatility * 100:.1f} % "
        f"({assumption.source})"
    )


def ratio_percent(value: Fraction) -> int:
    """A probability as whole percent, rounded half-even (floor for 99.5 %+ that is not 1)."""
    percent = money.quantize(value * 100, 0)
    if value < 1 and percent >= 100:
        return 99
    return int(percent)
