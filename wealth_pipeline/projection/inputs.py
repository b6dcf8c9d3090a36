"""The projection's inputs from the person's own history: pure functions over monthly series
(testable with made-up series), and a thin loader over `wealth_pipeline.returns.monthly`.

The series (from the cash-flows and returns work):
- net external flows per month (index: month-end `date`, values `Decimal` in the base
  currency): what the person put in (positive) or took out (negative);
- time-weighted returns per month (index: month-end `date`, nominal float ratios).
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import numpy as np
from dateutil.relativedelta import relativedelta
from sqlalchemy import Connection

from wealth_pipeline import money
from wealth_pipeline.projection import model
from wealth_pipeline.projection.assumptions import (
    BOOTSTRAP_MIN_MONTHS,
    SAVING_WINDOW_MONTHS,
)

CENT = 2
METHODS = ("auto", "parametric", "bootstrap")


class ProjectionInputError(ValueError):
    """An input the projection cannot use; the message says why."""


def month_end(day: date) -> date:
    return day + relativedelta(day=31)


def complete_months(index, as_of: date) -> list[date]:
    """The month ends of `index` whose month is over on `as_of` (a month ending after
    `as_of` is still running: its figures are partial)."""
    return sorted(day for day in index if day <= as_of)


@dataclass(frozen=True)
class Saving:
    monthly: Decimal  # to the cent, today's money
    source: str  # "override" | "settings" | "flows" | "none"
    detail: str


def median_saving(flows, as_of: date, window: int = SAVING_WINDOW_MONTHS) -> Decimal | None:
    """The median net external flow of the last `window` complete months (to the cent,
    half-even), counting months without flows inside the series' span as zero; None when
    no complete month has flow data."""
    if flows is None or len(flows) == 0:
        return None
    months = complete_months(flows.index, as_of)
    if not months:
        return None
    last = months[-1]
    first = max(months[0], month_end(last - relativedelta(months=window - 1)))
    values = {day: money.to_decimal(flows[day]) for day in months}
    span = []
    day = first
    while day <= last:
        span.append(values.get(day, Decimal(0)))
        day = month_end(day + relativedelta(months=1))
    return money.quantize(statistics.median(span), CENT)


def real_monthly_returns(returns, as_of: date, inflation: Decimal) -> list[float]:
    """The complete months' nominal time-weighted returns deflated by the yearly
    `inflation` spread evenly over the months: (1 + r) / (1 + i)^(1/12) - 1."""
    if returns is None or len(returns) == 0:
        return []
    monthly_inflation = (1.0 + float(inflation)) ** (1 / 12)
    result = []
    for day in complete_months(returns.index, as_of):
        value = float(returns[day])
        if math.isfinite(value):
            result.append((1.0 + value) / monthly_inflation - 1.0)
    return result


def choose_returns(
    method: str,
    allocation: dict[str, Decimal],
    own_real_returns: list[float],
    *,
    real_return: float | None = None,
    volatility: float | None = None,
) -> model.Returns:
    """The return model, and why: the person's own months once there are
    BOOTSTRAP_MIN_MONTHS of them (or when asked), else the per-class assumptions blended by
    today's allocation. `real_return` / `volatility` override the blend (parametric)."""
    if method not in METHODS:
        raise ProjectionInputError(f"method must be one of {', '.join(METHODS)}, not {method!r}")
    months = len(own_real_returns)
    overridden = real_return is not None or volatility is not None
    if real_return is not None and not -0.5 <= real_return <= 0.5:
        raise ProjectionInputError(
            f"a real return of {real_return} a year is out of range (-0.5 to 0.5)"
        )
    if volatility is not None and not 0 <= volatility <= 2:
        raise ProjectionInputError(f"a volatility of {volatility} a year is out of range (0 to 2)")
    if method == "bootstrap":
        if overridden:
            raise ProjectionInputError(
                "--return and --volatility set the parametric model; the bootstrap uses "
                "your own months"
            )
        if months < BOOTSTRAP_MIN_MONTHS:
            raise ProjectionInputError(
                f"the bootstrap needs {BOOTSTRAP_MIN_MONTHS} complete months of your own "
                f"time-weighted returns; there are {months}"
            )
        return model.bootstrap(
            np.array(own_real_returns),
            f"asked for: resampling your {months} months of real returns",
        )
    if method == "auto" and months >= BOOTSTRAP_MIN_MONTHS and not overridden:
        return model.bootstrap(
            np.array(own_real_returns),
            f"{months} months of your own time-weighted returns (at least "
            f"{BOOTSTRAP_MIN_MONTHS}): resampling them",
        )
    blended_return, blended_volatility, weights = model.blend(
        {name: float(value) for name, value in allocation.items()}
    )
    if method == "parametric":
        reason = "asked for: the asset classes' assumptions blended by your allocation"
    else:
        reason = (
            f"only {months} complete months of your own returns (the bootstrap needs "
            f"{BOOTSTRAP_MIN_MONTHS}): the asset classes' assumptions blended by your allocation"
        )
    if overridden:
        reason += "; return and volatility given by you"
    return model.parametric(
        blended_return if real_return is None else real_return,
        blended_volatility if volatility is None else volatility,
        reason,
        {
            "weights": weights,
            "blended_real_return": blended_return,
            "blended_volatility": blended_volatility,
        },
    )


def load_series(connection: Connection, user_id: int):
    """(monthly net external flows, monthly time-weighted returns) from the returns work,
    or (None, None) while this installation has no `wealth_pipeline.returns.monthly`."""
    try:
        from wealth_pipeline.returns.monthly import (
            monthly_net_external_flows,
            monthly_time_weighted_returns,
        )
    except ImportError:
        return None, None
    return (
        monthly_net_external_flows(connection, user_id),
        monthly_time_weighted_returns(connection, user_id),
    )


# Outflows that leave the user's wealth: what a bank statement shows as spending. A transfer
# to one of the user's own accounts is paired (`paired_flow_id`) and is not spending.
SPENDING_KINDS = ("withdrawal", "transfer_out", "fee", "tax", "other")
STATEMENT_ACCOUNT_TYPES = ("checking",)


def spending_from_statements(connection: Connection, user_id: int, as_of: date) -> Decimal | None:
    """The last 12 months' spending from bank statements, in the base currency, or None.

    Only current accounts whose statements (their flows' coverage) span the whole year up to
    `as_of` count, and only when every one of their outflows has its rate: a partial year or
    an unconverted flow would understate the spending, so then there is no figure at all.
    """
    from sqlalchemy import and_, func, select

    from wealth_pipeline.warehouse.schema import cash_flow_coverage, cash_flows, financial_accounts

    start = as_of - relativedelta(years=1) + relativedelta(days=1)
    covered = select(financial_accounts.c.id).join(
        cash_flow_coverage, cash_flow_coverage.c.account_id == financial_accounts.c.id
    ).where(
        financial_accounts.c.user_id == user_id,
        financial_accounts.c.account_type.in_(STATEMENT_ACCOUNT_TYPES),
        cash_flow_coverage.c.covered_from <= start,
        cash_flow_coverage.c.covered_through >= as_of,
    )
    accounts = list(connection.execute(covered).scalars())
    if not accounts:
        return None
    outflows = and_(
        cash_flows.c.account_id.in_(accounts),
        cash_flows.c.flow_date.between(start, as_of),
        cash_flows.c.kind.in_(SPENDING_KINDS),
        cash_flows.c.amount < 0,
        cash_flows.c.paired_flow_id.is_(None),
    )
    total, unconverted = connection.execute(
        select(
            func.sum(cash_flows.c.amount_base_currency),
            func.count().filter(cash_flows.c.amount_base_currency.is_(None)),
        ).where(outflows)
    ).one()
    if unconverted or total is None or total >= 0:
        return None
    return money.quantize(-total, 2)
