"""`wealth projection` and `wealth goals`: where your net worth may be heading, the chance of
reaching your goals, and when you could stop working (a model, not financial advice)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal

import click

from wealth_pipeline.cli.common import parse_day, settings_or_usage_error

SHOWN_YEARS = (1, 2, 3, 5, 10, 15, 20, 25, 30, 40, 50)


def _decimal(value: str | None, what: str) -> Decimal | None:
    if value is None:
        return None
    from wealth_pipeline.money import to_decimal

    try:
        return to_decimal(value)
    except (TypeError, ValueError):
        raise click.BadParameter(f"{value!r} is not a number", param_hint=what) from None


def _ratio(value: str | None, what: str) -> float | None:
    """`0.05`, `5%` or `5 %` as 0.05."""
    if value is None:
        return None
    text = value.strip()
    percent = text.endswith("%")
    number = _decimal(text.rstrip("%").strip(), what)
    assert number is not None
    return float(number / 100 if percent else number)


@contextmanager
def _user(username: str | None, *, write: bool = False) -> Iterator[tuple]:
    """(connection, user id, username, today) for `--user` (or the only user there is)."""
    from sqlalchemy import select

    from wealth_pipeline.clock import today
    from wealth_pipeline.warehouse.engine import get_engine
    from wealth_pipeline.warehouse.schema import users

    settings = settings_or_usage_error()
    engine = get_engine(settings.database_url, readonly=not write)
    with engine.begin() as connection:
        if username is None:
            names = connection.execute(select(users.c.username).limit(2)).scalars().all()
            if len(names) != 1:
                raise click.UsageError("there is more than one user (or none): pass --user")
            username = names[0]
        user_id = connection.execute(
            select(users.c.id).where(users.c.username == username)
        ).scalar()
        if user_id is None:
            raise click.ClickException(f"no user named {username!r} (see `wealth users list`)")
        yield connection, user_id, username, today()


user_option = click.option("--user", "username", help="Whose (default: the only user).")


@click.group("projection", invoke_without_command=True)
@user_option
@click.option(
    "--saving",
    metavar="AMOUNT",
    help="Monthly saving instead of the median net external flow of the last 12 months.",
)
@click.option("--method", type=click.Choice(["auto", "parametric", "bootstrap"]), default="auto", show_default=True,
              help="auto: bootstrap of your own monthly returns once there are 36 months, else parametric.")  # fmt: skip
@click.option(
    "--inflation",
    metavar="RATE",
    help="Yearly inflation for turning your returns real (default 2 %).",
)
@click.option(
    "--return",
    "real_return",
    metavar="RATE",
    help="Parametric: yearly real return instead of the blend.",
)
@click.option(
    "--volatility", metavar="RATE", help="Parametric: yearly volatility instead of the blend."
)
@click.option(
    "--spending",
    metavar="AMOUNT",
    help="Yearly spending for 'when can I stop working?' (default: your setting).",
)
@click.option(
    "--date", "day", metavar="YYYY-MM-DD", help="Whose week's seed to use (default: today)."
)
@click.option(
    "--json", "as_json", is_flag=True, help="Print the whole projection as JSON (the API's answer)."
)
@click.pass_context
def projection(ctx: click.Context, username: str | None, saving: str | None, method: str,
               inflation: str | None, real_return: str | None, volatility: str | None,
               spending: str | None, day: str | None, as_json: bool) -> None:  # fmt: skip
    """Project USER's net worth in today's money: 10,000 paths, monthly, 50 years; each
    goal's chance; when you could stop working. Not financial advice.

    `wealth projection settings` shows or changes what it assumes for you."""
    if ctx.invoked_subcommand is not None:
        return
    from wealth_pipeline.clock import iso_week
    from wealth_pipeline.formatting import short_day
    from wealth_pipeline.projection import present
    from wealth_pipeline.projection.inputs import ProjectionInputError
    from wealth_pipeline.projection.service import NoProjection, describe_class, project

    overrides = {
        "saving": _decimal(saving, "--saving"),
        "method": method,
        "inflation": None if inflation is None else Decimal(str(_ratio(inflation, "--inflation"))),
        "real_return": _ratio(real_return, "--return"),
        "volatility": _ratio(volatility, "--volatility"),
        "spending": _decimal(spending, "--spending"),
    }
    if overrides["spending"] is not None and overrides["spending"] <= 0:
        raise click.BadParameter("must be above zero", param_hint="--spending")
    with _user(username) as (connection, user_id, name, today):
        week = iso_week(parse_day(day) or today)
        try:
            result = project(connection, user_id, week, **overrides)
        except (NoProjection, ProjectionInputError, ValueError) as exc:
            raise click.ClickException(str(exc)) from None
    if as_json:
        click.echo(json.dumps(result.as_dict(), indent=2))
        return
    currency = result.base_currency
    inputs = result.inputs()
    click.echo(f"Projection for {name} from {short_day(result.as_of)} (week {week}, seed "
               f"{inputs['seed']}), {result.paths:,} paths, in today's {currency}")  # fmt: skip
    click.echo(
        f"Start:    {present.whole(result.start_wealth, currency)} (net worth by asset class)"
    )
    for key, amount in sorted(result.allocation.items(), key=lambda kv: -kv[1]):
        click.echo(f"  {present.whole(amount, currency):>14}  {describe_class(key)}")
    click.echo(
        f"Saving:   {present.whole(result.saving.monthly, currency)} a month ({result.saving.detail})"
    )
    if result.change_date is not None and result.after_change is not None:
        click.echo(f"          from {short_day(result.change_date)}: "
                   f"{present.whole(result.after_change, currency)} a month")  # fmt: skip
    click.echo(f"Returns:  {present.method_line(result)}")
    click.echo(f"Inflation assumed: {float(result.inflation) * 100:.1f} % a year")
    click.echo("")
    click.echo(
        f"{'year':>4}  {'date':<11} {'5 %':>12} {'25 %':>12} {'median':>12} {'75 %':>12} {'95 %':>12}"
    )
    for years in (0, *SHOWN_YEARS):
        if years * 12 >= len(result.bands):
            break
        band = result.bands[years * 12]
        values = " ".join(f"{present.whole(v, currency):>12}" for v in band.values)
        click.echo(f"{years:>4}  {band.day.isoformat():<11} {values}")
    if result.goals:
        click.echo("\nGoals")
        for goal in result.goals:
            click.echo("  " + present.goal_line(goal, result.saving.monthly, currency))
            click.echo("    " + present.goal_details(goal, currency))
    click.echo("\nWhen can I stop working?")
    if result.stop_working is None:
        click.echo("  Set your yearly spending: wealth projection settings --yearly-spending AMOUNT"
                   + (f" --user {name}" if username else ""))  # fmt: skip
    else:
        for line in present.stop_working_lines(result.stop_working, currency):
            click.echo("  " + line)
    click.echo("\n" + present.DISCLAIMER)


@projection.command("settings")
@user_option
@click.option(
    "--yearly-spending", metavar="AMOUNT", help="What you spend a year, in today's money."
)
@click.option(
    "--birth-year", type=int, help="To plan until an age (with --plan-until-age, default 95)."
)
@click.option("--plan-until-age", type=int, help="The money should last until this age.")
@click.option("--monthly-saving", metavar="AMOUNT", help="Instead of the median net external flow.")
@click.option(
    "--change-date", metavar="YYYY-MM-DD", help="From this day the monthly saving changes ..."
)
@click.option(
    "--saving-after-change", metavar="AMOUNT", help="... to this (negative: withdrawals)."
)
@click.option("--clear", "cleared", multiple=True,
              type=click.Choice(["yearly-spending", "birth-year", "plan-until-age", "monthly-saving", "change"]),
              help="Remove a setting (repeatable).")  # fmt: skip
def projection_settings(username: str | None, yearly_spending: str | None, birth_year: int | None,
                        plan_until_age: int | None, monthly_saving: str | None,
                        change_date: str | None, saving_after_change: str | None,
                        cleared: tuple[str, ...]) -> None:  # fmt: skip
    """Show or change what the projection assumes for USER."""
    from wealth_pipeline.projection.goals import UNSET, GoalError, update_settings

    changes: dict[str, object] = {
        "yearly_spending": UNSET if yearly_spending is None else _decimal(yearly_spending, "--yearly-spending"),
        "birth_year": UNSET if birth_year is None else birth_year,
        "plan_until_age": UNSET if plan_until_age is None else plan_until_age,
        "monthly_saving": UNSET if monthly_saving is None else _decimal(monthly_saving, "--monthly-saving"),
        "saving_change_date": UNSET if change_date is None else parse_day(change_date),
        "saving_after_change": UNSET if saving_after_change is None
        else _decimal(saving_after_change, "--saving-after-change"),
    }  # fmt: skip
    for item in cleared:
        if item == "change":
            changes["saving_change_date"] = changes["saving_after_change"] = None
        else:
            changes[item.replace("-", "_")] = None
    with _user(username, write=True) as (connection, user_id, _name, today):
        try:
            current = update_settings(connection, user_id, today, **changes)
        except GoalError as exc:
            raise click.ClickException(str(exc)) from None
    for key, value in vars(current).items():
        shown = (
            "(default)"
            if value is None
            else f"{value:.2f}"
            if isinstance(value, Decimal)
            else value
        )
        click.echo(f"{key.replace('_', ' '):<20} {shown}")


@click.group()
def goals() -> None:
    """Savings goals: a target amount (today's money) by a date."""


@goals.command("add")
@user_option
@click.option("--name", required=True, help="e.g. House")
@click.option(
    "--target", required=True, metavar="AMOUNT", help="In your base currency, today's money."
)
@click.option("--by", "by", required=True, metavar="YYYY-MM-DD", help="The date to reach it by.")
def goals_add(username: str | None, name: str, target: str, by: str) -> None:
    """Add a goal."""
    from wealth_pipeline.projection.goals import GoalError, add_goal

    day = parse_day(by)
    assert day is not None
    with _user(username, write=True) as (connection, user_id, _name, today):
        try:
            goal = add_goal(connection, user_id, name, target, day, today)
        except GoalError as exc:
            raise click.ClickException(str(exc)) from None
    click.echo(
        f"Added goal {goal.name!r}: {goal.target.normalize():f} by {goal.target_date} (id {goal.id})."
    )


@goals.command("list")
@user_option
def goals_list(username: str | None) -> None:
    """List the goals."""
    from wealth_pipeline.projection.goals import list_goals

    with _user(username) as (connection, user_id, name, _today):
        found = list_goals(connection, user_id)
    if not found:
        click.echo(
            f"No goals for {name}: wealth goals add --name NAME --target AMOUNT --by YYYY-MM-DD"
        )
        return
    for goal in found:
        click.echo(f"{goal.id:>4}  {goal.name:<30} {goal.target:>16,.2f}  by {goal.target_date}")


@goals.command("remove")
@user_option
@click.argument("goal")
def goals_remove(username: str | None, goal: str) -> None:
    """Remove GOAL (its name, or its id)."""
    from wealth_pipeline.projection.goals import GoalError, remove_goal

    with _user(username, write=True) as (connection, user_id, _name, _today):
        try:
            removed = remove_goal(connection, user_id, goal)
        except GoalError as exc:
            raise click.ClickException(str(exc)) from None
    click.echo(f"Removed goal {removed.name!r}.")
