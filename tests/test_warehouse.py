"""The warehouse schema: migrations match the models on both backends, upgrades on first use,
and SQLite readers are never blocked by a writer (WAL)."""

import threading
from datetime import date
from decimal import Decimal

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import insert, inspect, select, text

from wealth_pipeline.warehouse.engine import (
    create_warehouse_engine,
    current_revision,
    get_engine,
    head_revision,
    upgrade,
)
from wealth_pipeline.warehouse.schema import exchange_rates, metadata


def test_migrations_create_exactly_the_modelled_schema(warehouse_url: str) -> None:
    engine = get_engine(warehouse_url)
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, metadata)
    assert differences == []
    assert current_revision(engine) == head_revision()


def test_first_use_upgrades_an_empty_database(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'fresh' / 'warehouse.sqlite'}"
    engine = get_engine(url)
    tables = set(inspect(engine).get_table_names())
    assert {
        "users",
        "profiles",
        "brokers",
        "financial_accounts",
        "account_snapshots",
        "portfolio_positions",
        "exchange_rates",
        "account_sync_state",
    } <= tables
    assert "alembic_version" in tables


def test_upgrade_is_a_no_op_when_current(sqlite_url: str) -> None:
    engine = create_warehouse_engine(sqlite_url)
    assert upgrade(engine) == head_revision()
    assert upgrade(engine) == head_revision()
    engine.dispose()


def test_natural_key_indexes_exist(warehouse_url: str) -> None:
    inspector = inspect(get_engine(warehouse_url))
    snapshot_uniques = {
        tuple(u["column_names"]) for u in inspector.get_unique_constraints("account_snapshots")
    }
    rate_uniques = {
        tuple(u["column_names"]) for u in inspector.get_unique_constraints("exchange_rates")
    }
    assert ("account_id", "snapshot_date") in snapshot_uniques
    assert ("base_currency", "quote_currency", "rate_date") in rate_uniques


def test_sqlite_runs_in_wal_mode(sqlite_url: str) -> None:
    with get_engine(sqlite_url).connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_a_reader_is_not_blocked_by_an_open_write(sqlite_url: str) -> None:
    writer = get_engine(sqlite_url)
    reader = get_engine(sqlite_url, readonly=True)
    row = {
        "rate_date": date(2024, 1, 2),
        "quote_currency": "USD",
        "rate": Decimal("1.0956"),
        "source": "t",
    }
    seen: list[int] = []
    with writer.begin() as connection:
        connection.execute(insert(exchange_rates).values(**row))

        def read() -> None:
            with reader.connect() as read_connection:
                seen.append(len(read_connection.execute(select(exchange_rates)).all()))

        thread = threading.Thread(target=read)
        thread.start()
        thread.join(timeout=5)
        assert not thread.is_alive(), "the reader waited for the writer"
    assert seen == [0]  # the uncommitted row is invisible, and nobody waited
    with reader.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM exchange_rates")).scalar() == 1
