"""Alembic environment: migrations run on the connection `warehouse.engine.upgrade` passes in."""

from alembic import context
from sqlalchemy import create_engine

from wealth_pipeline.settings import load_settings
from wealth_pipeline.warehouse.schema import metadata


def _configure_and_run(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is not None:
    _configure_and_run(connection)
else:
    engine = create_engine(load_settings().database_url)
    with engine.begin() as own_connection:
        _configure_and_run(own_connection)
