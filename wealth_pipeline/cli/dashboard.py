"""`wealth dashboard link`: a one-time sign-in link for the web dashboard."""

from __future__ import annotations

from datetime import timedelta

import click

from wealth_pipeline.cli.common import (
    password_env_option,
    read_password,
    settings_or_usage_error,
    vault_errors,
)


@click.group("dashboard")
def dashboard() -> None:
    """The read-only web dashboard that `wealth api` serves at /."""


@dashboard.command("link")
@click.option("--user", "username", required=True, help="Whose dashboard the link opens.")
@click.option(
    "--minutes",
    type=click.IntRange(1, 24 * 60),
    default=10,
    show_default=True,
    help="How long the link can be used (once).",
)
@click.option(
    "--base-url",
    default=None,
    help="Where the dashboard is reached (default: http://WEALTH_API_HOST:WEALTH_API_PORT).",
)
@password_env_option
def link(username: str, minutes: int, base_url: str | None, password_env: str | None) -> None:
    """Print a single-use sign-in link after checking the password here, at the terminal.

    The browser never sees the password or anything derived from it: it trades the link's
    code once for a session cookie (HttpOnly, SameSite=Strict). Behind a reverse proxy give
    the public address with --base-url.
    """
    from sqlalchemy import select

    from wealth_pipeline.security.signin_links import create_link_code
    from wealth_pipeline.security.vault import unlock
    from wealth_pipeline.warehouse.engine import get_engine
    from wealth_pipeline.warehouse.schema import users

    settings = settings_or_usage_error()
    password = read_password(password_env, prompt=f"Password for {username}", err=True)
    with vault_errors(), get_engine(settings.database_url, readonly=True).connect() as connection:
        unlocked = unlock(connection, username, password)
    with get_engine(settings.database_url).begin() as connection:
        version = connection.execute(
            select(users.c.credentials_version).where(users.c.id == unlocked.user_id)
        ).scalar_one()
        code = create_link_code(
            connection, unlocked.user_id, version, lifetime=timedelta(minutes=minutes)
        )
    host = settings.api_host
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"  # an IPv6 address in a URL
    root = (base_url or f"http://{host}:{settings.api_port}").rstrip("/")
    click.echo(f"{root}/signin#code={code}")
    click.echo(
        f"Open it within {minutes} minute(s); it works once. `wealth api` must be running.",
        err=True,
    )
