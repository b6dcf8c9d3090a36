"""Helpers every `wealth` command group shares."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import click

from wealth_pipeline.settings import Settings, load_settings

EMBEDDED_DAGSTER_YAML = """\
# Dagster's own storage for the embedded setup (SQLite files in this folder).
# Production: see deploy/dagster.yaml in the repository (PostgreSQL storage).
telemetry:
  enabled: false
"""


def settings_or_usage_error() -> Settings:
    try:
        return load_settings()
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None


def ensure_dagster_home(settings: Settings) -> Path:
    """Create DAGSTER_HOME (under WEALTH_HOME by default) with a dagster.yaml, and export it."""
    home = settings.dagster_home
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text(EMBEDDED_DAGSTER_YAML)
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def parse_day(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date (YYYY-MM-DD)") from None
