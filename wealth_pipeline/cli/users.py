"""`wealth users`: people, their passwords and their profile settings.

Passwords are read from a hidden prompt or, for scripts, from an environment variable
named with `--password-env`; never from the command line itself.
"""

from __future__ import annotations

import click
from sqlalchemy import Engine

from wealth_pipeline.cli.common import (
    password_env_option,
    read_password,
    settings_or_usage_error,
    vault_errors,
)
from wealth_pipeline.profiles import (
    ProfileError,
    UserSummary,
    check_base_currency,
    check_email,
    check_username,
)
from wealth_pipeline.settings import Settings
from wealth_pipeline.warehouse.schema import MONTHLY_AGGREGATIONS

MIN_PASSWORD_LENGTH = 8


def _checked(check):
    """A click callback running a `profiles.check_*` function (None passes through)."""

    def callback(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return check(value)
        except ProfileError as exc:
            raise click.BadParameter(str(exc)) from None

    return callback


def _new_password(password_env: str | None, prompt: str, option_name: str) -> str:
    password = read_password(password_env, prompt=prompt, confirm=True, option_name=option_name)
    if len(password) < MIN_PASSWORD_LENGTH:
        raise click.ClickException(
            f"the password must have at least {MIN_PASSWORD_LENGTH} characters"
        )
    return password


def _engine(settings: Settings | None = None, *, readonly: bool = False) -> Engine:
    """The warehouse engine (migrated on first use); `readonly` never takes the write lock."""
    from wealth_pipeline.warehouse.engine import get_engine

    settings = settings or settings_or_usage_error()
    return get_engine(settings.database_url, readonly=readonly)


def _get_user(connection, username: str) -> UserSummary:
    from wealth_pipeline.profiles import get_user

    user = get_user(connection, username)
    if user is None:
        raise click.ClickException(f"no user named {username!r} (see `wealth users list`)")
    return user


def _describe(user: UserSummary) -> list[str]:
    if user.auto_sync_enabled and user.has_sealed_key:
        auto_sync = f"on (sealed to sync key {user.sync_key_id[:16]}…)"
    elif user.auto_sync_enabled:
        auto_sync = "on, but no sealed key: run `wealth users set USER --auto-sync` again"
    else:
        auto_sync = "off"
    report = "off"
    if user.weekly_report_enabled:
        report = f"on, to {user.report_recipient}"
    return [
        f"email                {user.email or '-'}",
        f"base currency        {user.base_currency}",
        f"auto-sync            {auto_sync}",
        f"sync frequency       every {user.sync_frequency_hours} h",
        f"monthly aggregation  {user.monthly_aggregation}",
        f"weekly report        {report}",
    ]


@click.group()
def users() -> None:
    """People using this warehouse, their passwords and profile settings."""


@users.command("create")
@click.argument("username", callback=_checked(check_username))
@click.option("--email", callback=_checked(check_email), help="The user's email address.")
@click.option(
    "--base-currency",
    default="EUR",
    show_default=True,
    callback=_checked(check_base_currency),
    help="Currency totals are shown in: EUR or any currency the ECB quotes.",
)
@password_env_option
def users_create(
    username: str, email: str | None, base_currency: str, password_env: str | None
) -> None:
    """Create USERNAME with a password (asked twice, not echoed).

    The password derives the key that protects this user's bank credentials: it cannot be
    recovered. Forgetting it means entering the credentials again.
    """
    from wealth_pipeline.security.vault import create_user

    engine = _engine()
    password = _new_password(password_env, f"Password for {username}", "--password-env")
    with vault_errors(), engine.begin() as connection:
        user_id = create_user(
            connection, username, password, email=email, base_currency=base_currency
        )
    click.echo(f"Created user {username} (id {user_id}), base currency {base_currency}.")
    click.echo(
        f"Auto-sync is off: `wealth users set {username} --auto-sync` lets the pipeline "
        "sync while you are away."
    )


@users.command("passwd")
@click.argument("username")
@password_env_option
@click.option(
    "--new-password-env",
    metavar="NAME",
    help="Read the new password from environment variable NAME (for scripts).",
)
def users_passwd(username: str, password_env: str | None, new_password_env: str | None) -> None:
    """Change USERNAME's password (the current one is needed).

    Stored credentials stay as they are and open with the new password only; sign-ins
    made with the old password are revoked.
    """
    from wealth_pipeline.security.vault import change_password, unlock

    old = read_password(password_env, prompt=f"Current password for {username}")
    # Check the current password before asking for a new one.
    with vault_errors(), _engine(readonly=True).connect() as connection:
        unlock(connection, username, old)
    new = _new_password(new_password_env, "New password", "--new-password-env")
    with vault_errors(), _engine().begin() as connection:
        change_password(connection, username, old, new)
    click.echo(f"Changed the password of {username}.")


@users.command("set")
@click.argument("username")
@click.option(
    "--base-currency",
    callback=_checked(check_base_currency),
    help="Currency totals are shown in: EUR or any currency the ECB quotes.",
)
@click.option(
    "--auto-sync/--no-auto-sync",
    default=None,
    help="Let the pipeline sync unattended (needs the password and `wealth keys init`), "
    "or stop it (deletes the pipeline's copy of the data key).",
)
@click.option(
    "--sync-frequency",
    type=click.IntRange(min=1),
    metavar="HOURS",
    help="Hours between unattended syncs.",
)
@click.option(
    "--monthly-aggregation",
    type=click.Choice(MONTHLY_AGGREGATIONS),
    help="Which value of a month monthly history shows.",
)
@click.option("--weekly-report/--no-weekly-report", default=None, help="The weekly email.")
@click.option("--email", callback=_checked(check_email), help="The user's email address.")
@click.option(
    "--report-email",
    callback=_checked(check_email),
    help="Where the weekly report goes (default: --email).",
)
@password_env_option
def users_set(
    username: str,
    base_currency: str | None,
    auto_sync: bool | None,
    sync_frequency: int | None,
    monthly_aggregation: str | None,
    weekly_report: bool | None,
    email: str | None,
    report_email: str | None,
    password_env: str | None,
) -> None:
    """Change USERNAME's profile settings; only the options given change.

    Turning auto-sync on asks for the password: the user's data key is then sealed to the
    pipeline's sync key, so the pipeline can decrypt this user's credentials while nobody
    is there. Turning it off deletes that sealed copy.
    """
    from wealth_pipeline.profiles import update_profile
    from wealth_pipeline.security.sync_keys import (
        disable_auto_sync,
        enable_auto_sync,
        load_public_key,
    )
    from wealth_pipeline.security.vault import unlock

    changes = (
        base_currency,
        auto_sync,
        sync_frequency,
        monthly_aggregation,
        weekly_report,
        email,
        report_email,
    )
    if all(value is None for value in changes):
        raise click.UsageError("nothing to change: give at least one option (see --help)")
    settings = settings_or_usage_error()
    engine = _engine(settings)
    with _engine(settings, readonly=True).connect() as connection:
        _get_user(connection, username)
    unlocked = public_key = None
    if auto_sync:
        with vault_errors():
            public_key = load_public_key(settings.sync_key_file)
        password = read_password(password_env, prompt=f"Password for {username}")
        # Derive the key outside the write transaction (SQLite writers queue behind it).
        with vault_errors(), _engine(settings, readonly=True).connect() as c:
            unlocked = unlock(c, username, password)
    with vault_errors(), engine.begin() as connection:
        user = _get_user(connection, username)
        try:
            update_profile(
                connection,
                user.id,
                email=email,
                base_currency=base_currency,
                sync_frequency_hours=sync_frequency,
                monthly_aggregation=monthly_aggregation,
                weekly_report_enabled=weekly_report,
                report_email=report_email,
            )
        except ProfileError as exc:
            raise click.ClickException(str(exc)) from None
        reconverted = None
        if base_currency is not None and base_currency != user.base_currency:
            from wealth_pipeline.conversions.convert import reconvert_user

            # The whole history, in the same transaction: never amounts in two base currencies.
            reconverted = reconvert_user(connection, user.id)
        if unlocked is not None and public_key is not None:
            enable_auto_sync(connection, unlocked, public_key)
        elif auto_sync is False:
            disable_auto_sync(connection, user.id)
        user = _get_user(connection, username)
    click.echo(f"Updated {username}:")
    for line in _describe(user):
        click.echo(f"  {line}")
    if reconverted is not None:
        click.echo(
            f"Reconverted into {user.base_currency}: {reconverted.fixed} snapshot(s), "
            f"{len(reconverted.skipped)} without a rate (`wealth conversions fix --dry-run` "
            "shows why)"
        )


@users.command("list")
def users_list() -> None:
    """List users and their settings (never any secret)."""
    from wealth_pipeline.profiles import list_users

    with _engine(readonly=True).connect() as connection:
        people = list_users(connection)
    if not people:
        click.echo("No users yet: `wealth users create USERNAME`.")
        return
    header = ("id", "username", "email", "base", "auto-sync", "every", "monthly", "report")
    rows = [header]
    for user in people:
        if user.auto_sync_enabled:
            sync = "on" if user.has_sealed_key else "on (no key!)"
        else:
            sync = "off"
        rows.append(
            (
                str(user.id),
                user.username + ("" if user.is_active else " (disabled)"),
                user.email or "-",
                user.base_currency,
                sync,
                f"{user.sync_frequency_hours}h",
                user.monthly_aggregation,
                user.report_recipient if user.weekly_report_enabled else "off",
            )
        )
    widths = [max(len(row[i] or "") for row in rows) for i in range(len(header))]
    for row in rows:
        click.echo(
            "  ".join((cell or "").ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        )
