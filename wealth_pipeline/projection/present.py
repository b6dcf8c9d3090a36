"""The projection in words, for the command line and the weekly report (one way to say it).

Amounts are rounded half-even only here, for display: whole currency units for the model's
figures (they are estimates; cents would pretend a precision the model does not have).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from wealth_pipeline import formatting as fmt
from wealth_pipeline.money import quantize
from wealth_pipeline.projection.service import GoalResult, Projection, StopWorking, ratio_percent


def whole(value: Decimal, currency: str) -> str:
    """`€310`, `CHF 1,250`: the model's amounts in whole units."""
    text = fmt.money(quantize(value, 0), currency)
    places = fmt.currency_places(currency)
    return text.removesuffix("." + "0" * places) if places else text


def month(day: date) -> str:
    return f"{day:%B %Y}"


def goal_line(result: GoalResult, saving: Decimal, currency: str) -> str:
    """`House: 72 % by June 2030; save €310 more a month for 80 %`."""
    head = f"{result.goal.name}: {ratio_percent(result.probability)} % by {month(result.goal.target_date)}"
    if result.paths_reaching == result.paths:
        return head + "; on track in every path"
    needed = result.saving_for_80
    if needed is None:
        return head + "; 80 % is out of reach by saving alone"
    more = needed - saving
    if more <= 0:
        return head + "; on track for 80 % with your saving"
    return head + f"; save {whole(more, currency)} more a month for 80 %"


def goal_details(result: GoalResult, currency: str) -> str:
    median = (
        "median path reaches it " + month(result.median_date)
        if result.median_date
        else "the median path does not reach it within 50 years"
    )
    savings = []
    for label, value in (("50 %", result.saving_for_50), ("80 %", result.saving_for_80)):
        savings.append(
            f"{label}: " + ("out of reach" if value is None else whole(value, currency) + "/month")
        )
    return (
        f"{whole(result.goal.target, currency)} by {fmt.short_day(result.goal.target_date)}; {median}; saving needed for "
        + ", ".join(savings)
    )


def stop_working_lines(answer: StopWorking, currency: str) -> list[str]:
    spending = whole(answer.yearly_spending, currency)
    if answer.day is None:
        monte = f"not before {month(answer.horizon_date)}"
    elif answer.month == 0:
        monte = "now"
    else:
        monte = "from " + month(answer.day) + (f" (age {answer.age})" if answer.age else "")
    rule_when = (
        "the median path reaches it " + month(answer.rule_median_date)
        if answer.rule_median_date
        else "the median path does not reach it within 50 years"
    )
    return [
        f"Spending {spending} a year (today's money):",
        f"  Monte Carlo: {monte}; the money lasts to {month(answer.horizon_date)} "
        f"({answer.horizon_reason}) in {answer.success * 100:.0f} % of paths",
        f"  25x rule:    {whole(answer.rule_target, currency)} needed; {rule_when}",
    ]


def method_line(projection: Projection) -> str:
    parameters = projection.returns.parameters
    return (
        f"{projection.returns.method}: {parameters.get('real_return', 0) * 100:.1f} % real a year, "
        f"volatility {parameters.get('volatility', 0) * 100:.1f} % ({projection.returns.reason})"
    )


DISCLAIMER = "A model of possible futures in today's money: not a forecast, not financial advice."
