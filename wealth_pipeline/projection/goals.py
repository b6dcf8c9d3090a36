"""Savings goals and the projection settings a person chooses: validated, then stored.

Amounts are today's money in the user's base currency, `Decimal` to the cent.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import Connection, delete, insert, select, update

from wealth_pipeline import money
from wealth_pipeline.projection.assumptions import MAX_YEARS
from wealth_pipeline.warehouse.schema import goals, projection_settings

MAX_AMOUNT = Decimal("1e12")  # a trillion: anything larger is a typo
MAX_NAME = 100


class GoalError(ValueError):
    """A goal or setting that cannot be stored; the message says why."""


@dataclass(frozen=True)
class Goal:
    id: int
    name: str
    target: Decimal
    target_date: date


def _amount(value: object, what: str, *, positive: bool = True) -> Decimal:
    try:
        number = money.to_decimal(value)
    except (TypeError, ValueError):
        raise GoalError(f"{what} {value!r} is not a number") from None
    if positive and number <= 0:
        raise GoalError(f"{what} must be above zero, not {number}")
    if abs(number) > MAX_AMOUNT:
        raise GoalError(f"{what} {number} is out of range (at most {MAX_AMOUNT:,.0f})")
    if number != money.quantize(number, 2):
        raise GoalError(f"{what} {number} has more than 2 decimal places")
    return money.quantize(number, money.AMOUNT_PLACES)


def _name(name: str) -> str:
    cleaned = (name or "").strip()
    if not cleaned or len(cleaned) > MAX_NAME:
        raise GoalError(f"a goal's name must have 1 to {MAX_NAME} characters, not {name!r}")
    return cleaned


def add_goal(
    connection: Connection, user_id: int, name: str, target: object, by: date, today: date
) -> Goal:
    name = _name(name)
    amount = _amount(target, "the target")
    if by <= today:
        raise GoalError(f"the date {by.isoformat()} is not after today ({today.isoformat()})")
    if by.year > today.year + MAX_YEARS:
        raise GoalError(
            f"the projection reaches {MAX_YEARS} years ahead; {by.isoformat()} is beyond"
        )
    exists = connection.execute(
        select(goals.c.id).where(goals.c.user_id == user_id, goals.c.name == name)
    ).scalar()
    if exists is not None:
        raise GoalError(f"there is already a goal named {name!r} (remove it first)")
    goal_id = connection.execute(
        insert(goals)
        .values(user_id=user_id, name=name, target=amount, target_date=by)
        .returning(goals.c.id)
    ).scalar_one()
    return Goal(goal_id, name, amount, by)


def list_goals(connection: Connection, user_id: int) -> list[Goal]:
    rows = connection.execute(
        select(goals.c.id, goals.c.name, goals.c.target, goals.c.target_date)
        .where(goals.c.user_id == user_id)
        .order_by(goals.c.target_date, goals.c.name)
    )
    return [Goal(row.id, row.name, row.target, row.target_date) for row in rows]


def remove_goal(connection: Connection, user_id: int, name_or_id: str) -> Goal:
    """By name, or by id when it is a number no goal is named."""
    found = [g for g in list_goals(connection, user_id) if g.name == name_or_id.strip()]
    if not found and name_or_id.strip().isdigit():
        found = [g for g in list_goals(connection, user_id) if g.id == int(name_or_id)]
    if not found:
        raise GoalError(f"no goal named {name_or_id!r} (see `wealth goals list`)")
    connection.execute(delete(goals).where(goals.c.id == found[0].id))
    return found[0]


@dataclass(frozen=True)
class ProjectionSettings:
    yearly_spending: Decimal | None = None
    birth_year: int | None = None
    plan_until_age: int | None = None
    monthly_saving: Decimal | None = None
    saving_change_date: date | None = None
    saving_after_change: Decimal | None = None


def get_settings(connection: Connection, user_id: int) -> ProjectionSettings:
    t = projection_settings
    row = connection.execute(select(t).where(t.c.user_id == user_id)).first()
    if row is None:
        return ProjectionSettings()
    return ProjectionSettings(
        yearly_spending=row.yearly_spending,
        birth_year=row.birth_year,
        plan_until_age=row.plan_until_age,
        monthly_saving=row.monthly_saving,
        saving_change_date=row.saving_change_date,
        saving_after_change=row.saving_after_change,
    )


UNSET = object()


def update_settings(
    connection: Connection, user_id: int, today: date, **changes: object
) -> ProjectionSettings:
    """Set the given settings (None clears one; absent ones stay), validated first."""
    values: dict[str, object] = {}
    for key, value in changes.items():
        if value is UNSET:
            continue
        if value is None:
            values[key] = None
        elif key == "yearly_spending":
            values[key] = _amount(value, "the yearly spending")
        elif key in ("monthly_saving", "saving_after_change"):
            values[key] = _amount(value, key.replace("_", " "), positive=False)
        elif key == "birth_year":
            if not isinstance(value, int) or not today.year - 120 <= value <= today.year:
                raise GoalError(
                    f"birth year {value!r} is not between {today.year - 120} and {today.year}"
                )
            values[key] = value
        elif key == "plan_until_age":
            if not isinstance(value, int) or not 1 <= value <= 130:
                raise GoalError(f"the age to plan until must be 1 to 130, not {value!r}")
            values[key] = value
        elif key == "saving_change_date":
            if not isinstance(value, date) or value <= today:
                raise GoalError(f"the saving change date {value} is not after today ({today})")
            values[key] = value
        else:
            raise GoalError(f"unknown projection setting {key!r}")
    if values:
        t = projection_settings
        exists = connection.execute(select(t.c.user_id).where(t.c.user_id == user_id)).scalar()
        if exists is None:
            connection.execute(insert(t).values(user_id=user_id, **values))
        else:
            connection.execute(update(t).where(t.c.user_id == user_id).values(**values))
    current = get_settings(connection, user_id)
    if (current.saving_change_date is None) != (current.saving_after_change is None):
        raise GoalError(
            "a saving change needs both its date (--change-date) and the new monthly amount "
            "(--saving-after-change; negative for withdrawals)"
        )
    return current
