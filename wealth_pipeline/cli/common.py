"""Helpers every `wealth` command group shares."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import TypeVar

import click

from wealth_pipeline.files import create_private_file, private_folder
from wealth_pipeline.settings import Settings, load_settings
from wealth_pipeline.warehouse.types import MAX_ID

# An account (or other row) id as typed: refused with a usage error outside 1..MAX_ID.
ROW_ID = click.IntRange(1, MAX_ID)

EMBEDDED_DAGSTER_YAML = """\
# Dagster's own storage for the embedded setup (SQLite files in this folder).
# Production: see deploy/dagster.yaml in the repository (PostgreSQL storage).
telemetry:
  enabled: false
"""


class WealthGroup(click.Group):
    """The `wealth` group: a warehouse that is read-only, locked or unreachable is one clear
    message and exit code 1 from every command, never a driver traceback."""

    def invoke(self, ctx: click.Context):
        from wealth_pipeline.warehouse.engine import WarehouseUnavailable

        try:
            return super().invoke(ctx)
        except WarehouseUnavailable as unavailable:
            raise click.ClickException(str(unavailable)) from None


def settings_or_usage_error(*, needs_warehouse: bool = True) -> Settings:
    """The settings; a bad one is a usage error (exit 2).

    A command that `needs_warehouse` stops when the configured SQLite file is missing, so a
    mistyped or forgotten WEALTH_HOME says so instead of silently starting an empty
    warehouse: only `wealth init`, `wealth db upgrade` and `wealth demo setup` (which says so,
    `new_warehouse`) create one; commands that never open it, `keys` and `api token`, pass
    False too.
    """
    try:
        settings = load_settings()
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    if needs_warehouse:
        missing = missing_warehouse(settings)
        if missing is not None:
            raise click.ClickException(missing)
    return settings


def new_warehouse(settings: Settings) -> None:
    """Say so when a command that may create the warehouse (`demo setup`) is about to."""
    from sqlalchemy.engine import make_url

    if missing_warehouse(settings) is not None:
        path = make_url(settings.database_url).database
        click.echo(f"New warehouse at {path} (WEALTH_HOME={settings.home}).")


def missing_warehouse(settings: Settings) -> str | None:
    """Why the configured SQLite warehouse is not there (None: it exists, or is no file)."""
    from sqlalchemy.engine import make_url

    from wealth_pipeline.settings import default_home

    url = make_url(settings.database_url)
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    path = Path(url.database).expanduser()
    if path.exists():
        return None
    message = (
        f"there is no warehouse at {path} (WEALTH_HOME={settings.home}); nothing was created. "
        "`wealth init` creates one there"
    )
    default = default_home()
    if settings.home.resolve() != default.resolve() and (default / "warehouse.sqlite").exists():
        message += f"; your default WEALTH_HOME {default} holds one (unset WEALTH_HOME to use it)"
    elif os.environ.get("WEALTH_HOME"):
        message += ", or set WEALTH_HOME to the folder that holds your warehouse.sqlite"
    return message + "."


def ensure_dagster_home(settings: Settings) -> Path:
    """Create DAGSTER_HOME (under WEALTH_HOME by default) with a dagster.yaml, and export it."""
    home = settings.dagster_home
    private_folder(home)  # 0700: Dagster's run logs and storage live here
    create_private_file(home / "dagster.yaml", EMBEDDED_DAGSTER_YAML.encode())
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def parse_day(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date (YYYY-MM-DD)") from None


F = TypeVar("F", bound=Callable[..., object])


def password_env_option(function: F) -> F:
    """Add ``--password-env NAME``: read the password from environment variable NAME.

    For automation; without it, `read_password` prompts without echo. Passwords are never
    accepted as plain command-line arguments (they would land in shell history and `ps`).
    """
    return click.option(
        "--password-env",
        "password_env",
        metavar="NAME",
        default=None,
        help="Read the password from environment variable NAME (for scripts) instead of prompting.",
    )(function)


def days_option(help: str) -> Callable[[F], F]:
    """Add ``--days N`` (at least 1, default 365): how many days of history, ending today."""

    def decorate(function: F) -> F:
        return click.option(
            "--days", type=click.IntRange(min=1), default=365, show_default=True, help=help
        )(function)

    return decorate


def read_password(
    password_env: str | None,
    *,
    prompt: str = "Password",
    confirm: bool = False,
    option_name: str = "--password-env",
    err: bool = False,
) -> str:
    """The password from the environment variable named `password_env`, else a hidden prompt.

    `confirm` asks twice when prompting; `err` prompts on stderr (when stdout is the answer,
    as in `TOKEN=$(wealth api token ...)`). A named variable that is unset or empty is a usage
    error (exit 2).
    """
    if password_env is not None:
        name = password_env.strip()
        value = os.environ.get(name) if name else None
        if not value:
            raise click.BadParameter(
                f"environment variable {name or password_env!r} is not set or empty",
                param_hint=f"'{option_name}'",
            )
        return value
    return click.prompt(prompt, hide_input=True, confirmation_prompt=confirm, err=err)


@contextmanager
def vault_errors() -> Iterator[None]:
    """Turn a `VaultError` (wrong password, tampered blob, missing key...) into exit 1."""
    from wealth_pipeline.security.errors import VaultError

    try:
        yield
    except VaultError as exc:
        raise click.ClickException(str(exc)) from None
