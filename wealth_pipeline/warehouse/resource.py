"""The warehouse as a Dagster resource: a thin handle on the shared, migrated engine."""

from __future__ import annotations

import dagster as dg
from sqlalchemy import Engine

from wealth_pipeline.warehouse.engine import get_engine, reader


class WarehouseResource(dg.ConfigurableResource):
    """Where assets read and write their tables (`WEALTH_DATABASE_URL`, given to Dagster as
    an EnvVar so the UI shows the variable's name, never a password)."""

    database_url: str

    def engine(self) -> Engine:
        return get_engine(self.database_url.strip())

    def reader(self) -> Engine:
        """The engine for reads only: on SQLite it never takes the write lock."""
        return reader(self.engine())
