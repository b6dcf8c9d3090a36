"""The Dagster resources, built in one place from the settings.

A value that can be a secret (a database URL with a password, a rate source's URL that may
carry credentials) goes to Dagster as `dg.EnvVar(name)` when it came from that variable:
Dagster stores and shows the variable's name, and reads the value only where the resource
runs, so it never reaches the UI, the stored definitions or a run's config.
"""

from __future__ import annotations

import os
from dataclasses import replace

import dagster as dg
from sqlalchemy.engine import make_url

from wealth_pipeline.fx.sources import RatesSource, source_for
from wealth_pipeline.report.assets import MailResource
from wealth_pipeline.settings import Settings
from wealth_pipeline.sync.assets import sync_resource
from wealth_pipeline.warehouse.resource import WarehouseResource


def from_env(name: str, value: str) -> str | dg.EnvVar:
    """`value` as `dg.EnvVar(name)` when it came from that environment variable."""
    if os.environ.get(name, "").strip() == value:
        return dg.EnvVar(name)
    return value


def database_url(settings: Settings) -> str | dg.EnvVar:
    """The warehouse URL for the resource: from WEALTH_DATABASE_URL as an EnvVar; a URL
    given otherwise (tests, the SQLite default) only without a password."""
    chosen = from_env("WEALTH_DATABASE_URL", settings.database_url)
    if not isinstance(chosen, dg.EnvVar) and make_url(chosen).password:
        raise ValueError(
            "a warehouse URL with a password must come from WEALTH_DATABASE_URL, so that "
            "Dagster shows the variable's name and never the password"
        )
    return chosen


def rates_source(settings: Settings) -> RatesSource:
    """The configured rate source, its locations as EnvVars when set in the environment (a
    URL may carry credentials)."""
    return source_for(
        replace(
            settings,
            frankfurter_url=from_env("WEALTH_FRANKFURTER_URL", settings.frankfurter_url),
            ecb_file=from_env("WEALTH_ECB_FILE", settings.ecb_file),
        )
    )


def resources(settings: Settings) -> dict[str, dg.ConfigurableResource]:
    """Every resource the definitions' assets, checks, jobs and sensors use."""
    return {
        "fx_source": rates_source(settings),
        "warehouse": WarehouseResource(database_url=database_url(settings)),
        "sync": sync_resource(settings),
        "mail": MailResource(),
    }
