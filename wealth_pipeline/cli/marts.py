"""`wealth marts`: build the marts (net worth history, breakdowns, holdings) by hand.

The same build the marts' automation and `marts_sensor` launch after a change: only what changed
since the last build, or everything with `--full`.
"""

from __future__ import annotations

import click

from wealth_pipeline.cli.accounts import engine
from wealth_pipeline.cli.common import parse_day, settings_or_usage_error


@click.group()
def marts() -> None:
    """The marts the API and the weekly report read."""


@marts.command("build")
@click.option("--full", is_flag=True, help="Rebuild all history, not only what changed.")
@click.option(
    "--user",
    "usernames",
    metavar="USERNAME",
    multiple=True,
    help="Only this user's changes (repeatable); with --full, only this user's history.",
)
@click.option(
    "--as-of",
    "as_of",
    metavar="YYYY-MM-DD",
    help="The marts' last day (default: today in Europe/Berlin).",
)
def marts_build(full: bool, usernames: tuple[str, ...], as_of: str | None) -> None:
    """Bring the marts up to date and print the rows written per model.

    Users whose data changed are rebuilt from the earliest changed day; when the day moved
    on, every user is extended to it. All models are written in one transaction: a failing
    build leaves the previous marts as they were (exit 1).
    """
    from sqlalchemy.exc import SQLAlchemyError

    from wealth_pipeline.marts import MartsError, ModelError, build_marts
    from wealth_pipeline.profiles import user_id_for

    end_day = parse_day(as_of)
    user_ids = None
    if usernames:
        user_ids = []
        with engine(readonly=True).connect() as connection:
            for username in usernames:
                user_id = user_id_for(connection, username)
                if user_id is None:
                    raise click.ClickException(
                        f"no user named {username!r} (see `wealth users list`)"
                    )
                user_ids.append(user_id)
    try:
        report = build_marts(engine(), as_of=end_day, full=full, users=user_ids)
    except (MartsError, ModelError) as exc:
        raise click.ClickException(str(exc)) from None
    except SQLAlchemyError as exc:
        raise click.ClickException(
            f"the build failed and wrote nothing: {type(exc.orig or exc).__name__}: "
            f"{str(exc.orig or exc).splitlines()[0]}"
        ) from None
    click.echo(report.summary()[0].upper() + report.summary()[1:] + ".")
    if any(report.rows.values()):
        from wealth_pipeline.cli import record

        record.marts(settings_or_usage_error(), "wealth marts build", report.rows, report.summary())
    width = max(len(model) for model in report.rows)
    for model, rows in report.rows.items():
        click.echo(f"  {model:<{width}}  {rows:>9} row(s)")
    if report.changes_consumed:
        click.echo(f"Consumed {report.changes_consumed} recorded change(s).")
