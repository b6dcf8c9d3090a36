"""`wealth conversions`: convert snapshots whose base-currency amount is missing (or whose
conversion is provisional), by hand.

The same set-based conversion `converted_snapshots` runs for its days; useful after loading rates,
or to see (`--dry-run`) why snapshots stay unconverted.
"""

from __future__ import annotations

import click

from wealth_pipeline.cli.accounts import engine
from wealth_pipeline.conversions.report import ConversionReport


@click.group()
def conversions() -> None:
    """Base-currency conversion of stored snapshots."""


def echo_report(report: ConversionReport) -> None:
    """Counts, then the skipped snapshots grouped by reason (most frequent first)."""
    would = "Would fix" if report.dry_run else "Fixed"
    click.echo(
        f"{would}: {report.fixed} snapshot(s), {report.positions_fixed} position(s)"
        f"{' (dry run: nothing written)' if report.dry_run else ''}"
    )
    refreshed = "Would refresh" if report.dry_run else "Refreshed"
    click.echo(f"{refreshed}: {report.refreshed} snapshot(s) converted before their day's rate")
    click.echo(f"Skipped: {len(report.skipped)}")
    for reason, count, first, last in report.skipped_reasons():
        days = first.isoformat() if first == last else f"{first.isoformat()}..{last.isoformat()}"
        click.echo(f"  {count} x [{days}] {reason}")
    click.echo(f"Errors: {len(report.errors)}")
    for error in report.errors[:20]:
        click.echo(f"  {error}")
    if len(report.errors) > 20:
        click.echo(f"  ... and {len(report.errors) - 20} more")


@conversions.command("fix")
@click.option("--dry-run", is_flag=True, help="Show what would be converted; write nothing.")
@click.option(
    "--limit", type=click.IntRange(min=1), metavar="N", help="At most N snapshots, oldest first."
)
@click.option("--user", "username", metavar="USERNAME", help="Only this user's snapshots.")
def conversions_fix(dry_run: bool, limit: int | None, username: str | None) -> None:
    """Convert snapshots still missing their base-currency amount, where a rate now exists.

    Snapshots converted at an older day's rate before their own day's rate arrived (a late
    ECB, a failed refresh) are refreshed with it; weekend snapshots keep Friday's rate.

    A snapshot without a rate (unknown currency, a gap in the ECB's rates, a day before the
    currency's first rate) stays unconverted, with the reason shown; never converted at 1.0.
    Exits 1 when a conversion failed.
    """
    from wealth_pipeline.conversions.convert import convert_snapshots
    from wealth_pipeline.profiles import user_id_for

    user_ids = None
    if username is not None:
        with engine(readonly=True).connect() as connection:
            user_id = user_id_for(connection, username)
        if user_id is None:
            raise click.ClickException(f"no user named {username!r} (see `wealth users list`)")
        user_ids = [user_id]
    with engine(readonly=dry_run).begin() as connection:
        report = convert_snapshots(connection, user_ids=user_ids, limit=limit, dry_run=dry_run)
    echo_report(report)
    if report.errors:
        raise SystemExit(1)
