"""Everything that differs between the warehouse's two databases, SQLite and PostgreSQL.

- upserts: `insert(bind, table)` is the backend's INSERT with its ON CONFLICT clauses;
- bulk writes: `bulk_insert` (a table's rows, bound by its column types) and `copy_rows`
  (driver-ready rows into a scratch table): PostgreSQL's COPY through psycopg 3, one
  executemany elsewhere;
- date arithmetic, in SQLAlchemy expressions (`add_days`) and in SQL text (`sql_helpers`,
  what the mart templates and hand-written queries call);
- the SQLite storage encoding of exact decimals: a 64-bit integer count of 10**-places units
  (`to_units`, `from_units`, `stored_units`, `amount_text`), which `warehouse.types` applies
  to every exact column. PostgreSQL stores NUMERIC(28, places).

A third backend, or another scale, is a change here (and its tests, `tests/test_dialect.py`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, overload

from sqlalchemy import Connection, Engine, Table, func, literal
from sqlalchemy import insert as plain_insert
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql.elements import ColumnElement

SQLITE = "sqlite"
POSTGRESQL = "postgresql"
NAMES = (SQLITE, POSTGRESQL)
INT64_MAX = 2**63 - 1  # SQLite's integers: the largest count of units a column holds
INSERT_BATCH = 20_000  # rows per executemany where there is no COPY


def name(bind: Connection | Engine | Dialect | str) -> str:
    """`sqlite` or `postgresql` (of a connection, an engine, a dialect or its name)."""
    if isinstance(bind, str):
        return bind
    dialect = bind if isinstance(bind, Dialect) else bind.dialect
    return dialect.name


def is_sqlite(bind: Connection | Engine | Dialect | str) -> bool:
    return name(bind) == SQLITE


# --- upserts --------------------------------------------------------------------------------


def insert(bind: Connection | Engine, table: Table) -> postgresql.Insert | sqlite.Insert:
    """INSERT into `table` with the backend's `on_conflict_do_update` / `on_conflict_do_nothing`
    and `excluded` (both spell ON CONFLICT alike; the constructs are per dialect)."""
    return postgresql.insert(table) if name(bind) == POSTGRESQL else sqlite.insert(table)


# --- bulk writes ----------------------------------------------------------------------------


def copies(connection: Connection) -> bool:
    """Whether bulk writes go through COPY (PostgreSQL with psycopg 3)."""
    return connection.dialect.driver == "psycopg"


def bulk_insert(connection: Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert `rows` (column name -> value) into `table`, in the caller's transaction.

    With COPY every value goes through its column type's bind processing first, as `insert()`
    would (the exact-decimal checks included), and errors are raised as the same SQLAlchemy
    exceptions (`StatementError`, `IntegrityError`, ...). Otherwise an executemany per batch.
    """
    if not rows:
        return
    if not copies(connection):
        for offset in range(0, len(rows), INSERT_BATCH):
            connection.execute(plain_insert(table), list(rows[offset : offset + INSERT_BATCH]))
        return
    dialect = connection.dialect
    names = list(rows[0])
    columns = [table.c[column] for column in names]
    preparer = dialect.identifier_preparer
    statement = (
        f"COPY {preparer.format_table(table)} "
        f"({', '.join(preparer.format_column(column) for column in columns)}) FROM STDIN"
    )
    processors = [
        (index, processor)
        for index, column in enumerate(columns)
        if (processor := column.type.bind_processor(dialect)) is not None
    ]
    records = []
    for row in rows:
        record = [row[column] for column in names]
        try:
            for index, processor in processors:
                record[index] = processor(record[index])
        except Exception as error:
            raise DBAPIError.instance(
                statement,
                row,
                error,
                dialect.loaded_dbapi.Error,
                hide_parameters=connection.engine.hide_parameters,
                dialect=dialect,
            ) from error
        records.append(record)
    _copy(connection, statement, records)


def copy_rows(
    connection: Connection, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]
) -> None:
    """Insert driver-ready `rows` into the (scratch) table `table`: COPY on PostgreSQL with
    psycopg 3, else one executemany in the driver's parameter style."""
    if copies(connection):
        _copy(connection, f"COPY {table} ({', '.join(columns)}) FROM STDIN", rows)
        return
    mark = "?" if connection.dialect.paramstyle == "qmark" else "%s"
    marks = ", ".join(mark for _ in columns)
    connection.exec_driver_sql(
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", list(rows)
    )


def _copy(connection: Connection, statement: str, records: Iterable[Sequence[Any]]) -> None:
    dialect = connection.dialect
    dbapi_error = dialect.loaded_dbapi.Error
    driver_connection: Any = connection.connection.driver_connection
    try:
        with driver_connection.cursor() as cursor, cursor.copy(statement) as copy:
            for record in records:
                copy.write_row(record)
    except dbapi_error as error:
        raise DBAPIError.instance(
            statement,
            None,
            error,
            dbapi_error,
            hide_parameters=connection.engine.hide_parameters,
            dialect=dialect,
        ) from error


# --- statistics and scratch tables ----------------------------------------------------------


def analyze(connection: Connection, *tables: str) -> None:
    """Fresh planner statistics for `tables` on PostgreSQL (temporary tables get none
    otherwise); SQLite plans without them."""
    if name(connection) == POSTGRESQL:
        for table in tables:
            connection.exec_driver_sql(f"ANALYZE {table}")


def temporary(connection: Connection, table: str) -> str:
    """How to name a temporary table in DROP (SQLite keeps them in the `temp` schema)."""
    return f"temp.{table}" if name(connection) == SQLITE else table


# --- date arithmetic --------------------------------------------------------------------------


def add_days(bind: Connection | Engine, column: Any, days: int) -> ColumnElement[Any]:
    """`column` (a date) plus `days` (negative: before)."""
    if name(bind) == SQLITE:
        return func.date(column, literal(f"{days:+d} days"))
    return column + days  # date + integer is a date


def sql_helpers(dialect: str) -> dict[str, Callable[..., str]]:
    """SQL text for what the two backends spell differently (the mart templates call these):
    day and month arithmetic, day differences and text, JSON built in SQL."""
    if dialect not in NAMES:
        raise ValueError(f"unsupported SQL dialect {dialect!r}")
    lite = dialect == SQLITE
    return {
        "next_day": lambda e: f"date({e}, '+1 day')" if lite else f"CAST({e} + 1 AS DATE)",
        "month_start": lambda e: (
            f"date({e}, 'start of month')" if lite else f"CAST(date_trunc('month', {e}) AS DATE)"
        ),
        "days_between": lambda later, earlier: (
            f"CAST(julianday({later}) - julianday({earlier}) AS INTEGER)"
            if lite
            else f"(CAST({later} AS DATE) - CAST({earlier} AS DATE))"
        ),
        "day_text": lambda e: e if lite else f"to_char({e}, 'YYYY-MM-DD')",
        "json_object": lambda *pairs: (
            ("json_object(" if lite else "json_build_object(") + ", ".join(pairs) + ")"
        ),
        # SQLite 3.40 has no ORDER BY inside aggregates: it aggregates in input order, so
        # the caller feeds it ordered rows.
        "json_agg": lambda e, order_by: (
            f"json_group_array({e})" if lite else f"json_agg({e} ORDER BY {order_by})"
        ),
    }


def joined_text(dialect: str, item: str, source: str, order_by: str) -> str:
    """A SELECT of one text: `item` of each row of `source` (FROM ... WHERE ...), in
    `order_by` order, joined with commas (NULL without rows)."""
    if dialect == SQLITE:  # group_concat keeps the order of an ordered subquery
        return (
            f"SELECT group_concat(item, ',') FROM "
            f"(SELECT {item} AS item FROM {source} ORDER BY {order_by})"
        )
    return f"SELECT string_agg({item}, ',' ORDER BY {order_by}) FROM {source}"


# --- the storage encoding of exact decimals ---------------------------------------------------


def stores_units(dialect: Dialect | str) -> bool:
    """Whether exact decimals are stored as integer units (SQLite) rather than NUMERIC."""
    return (dialect if isinstance(dialect, str) else dialect.name) == SQLITE


def check_places(value: Decimal, places: int) -> Decimal:
    """`value` itself when it has at most `places` decimals (what its column stores)."""
    scaled = value.scaleb(places)
    if scaled != scaled.to_integral_value():
        raise ValueError(
            f"{value} has more than {places} decimal places; "
            "round it where it is produced (wealth_pipeline.money.quantize)"
        )
    return value


@overload
def to_units(value: Decimal, places: int) -> int: ...


@overload
def to_units(value: None, places: int) -> None: ...


def to_units(value: Decimal | None, places: int) -> int | None:
    """`value` as SQLite stores it: a count of 10**-places units. Refuses more places than
    the column has (rounding belongs where a value is produced) and what int64 cannot hold."""
    if value is None:
        return None
    units = int(check_places(value, places).scaleb(places))
    if abs(units) > INT64_MAX:
        raise OverflowError(f"{value} is too large to store exactly at {places} places")
    return units


def from_units(units: int, places: int) -> Decimal:
    """The exact value of a count of 10**-places units."""
    return Decimal(int(units)).scaleb(-places)


def stored_units(dialect: Dialect | str, value: Any, places: int) -> int | None:
    """A raw column value read without its type (driver level) as a count of units."""
    if value is None:
        return None
    if stores_units(dialect):
        return int(value)
    return int(Decimal(value).scaleb(places))


def stored_value(dialect: Dialect | str, units: int, places: int) -> int | Decimal:
    """A count of units as a driver-level value for an exact column (no type processing)."""
    return units if stores_units(dialect) else from_units(units, places)


def amount_column(bind: Connection | Engine | Dialect, places: int) -> str:
    """The SQL type of an exact column with `places` (in a scratch table's DDL)."""
    return "BIGINT" if stores_units(name(bind)) else f"NUMERIC(28, {places})"


def stored_moment(bind: Connection | Engine, moment: datetime) -> datetime:
    """`moment` as a timestamp column compares on this backend: naive UTC on SQLite (which
    keeps no offset), as it is on PostgreSQL (timestamptz)."""
    if is_sqlite(bind):
        return moment.astimezone(UTC).replace(tzinfo=None)
    return moment


def amount_text(dialect: str, column: str, places: int) -> str:
    """SQL text for a stored exact amount as its exact decimal text (`-12.3400`)."""
    if dialect != SQLITE:
        return f"{column}::text"
    unit = 10**places
    return (
        f"printf('%s%d.%0{places}d', CASE WHEN {column} < 0 THEN '-' ELSE '' END, "
        f"abs({column}) / {unit}, abs({column}) % {unit})"
    )
