"""Statements run on the driver's own cursor, for the few queries of a hot path.

SQLAlchemy's work per execution (an execution context, events, a result object: about
50 µs) is nothing beside most queries, but it was a fifth of an API answer whose queries
take a fraction of a millisecond. A `DriverStatement` compiles a Core statement once per
dialect and runs it on the DBAPI cursor of a SQLAlchemy `Connection`, inside that
connection's transaction, converting parameters and results with the same type processors
SQLAlchemy applies (scaled integers, dates and booleans on SQLite). A driver error is not
handled here: the statement runs once more the usual way, so the error reaches the caller
as SQLAlchemy and the warehouse word it (`warehouse.engine.WarehouseUnavailable`).
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.expression import Executable


@dataclass(frozen=True)
class _Compiled:
    sql: str
    # (name, default value or `_REQUIRED`, bind processor) in the order of the parameters
    binds: tuple[tuple[str, Any, Callable[[Any], Any] | None], ...]
    positional: bool
    processors: tuple[Callable[[Any], Any] | None, ...]
    row: type | None  # a named tuple of the selected columns (None: a plain tuple)


_REQUIRED = object()


class DriverStatement:
    """`statement` (a Core SELECT or `text()`), run with `first()` on the driver cursor."""

    def __init__(self, statement: Executable) -> None:
        self.statement = statement
        self._compiled: dict[str, _Compiled] = {}

    def first(self, connection: Connection, parameters: dict[str, Any]) -> Any:
        """The first row (a named tuple of the selected columns, else a tuple) or None.

        Begins the connection's transaction first if it has none (as `execute` would)."""
        compiled = self._compiled.get(connection.dialect.name)
        if compiled is None:
            compiled = self._compiled[connection.dialect.name] = self._compile(connection.dialect)
        values = []
        for name, default, processor in compiled.binds:
            value = parameters.get(name, default)
            if value is _REQUIRED:
                raise KeyError(f"a value is required for the parameter {name!r}")
            values.append(value if processor is None else processor(value))
        if not connection.in_transaction():
            connection.begin()
        driver = connection.connection.driver_connection
        assert driver is not None
        cursor = driver.cursor()
        if not compiled.positional:
            values = {bind[0]: value for bind, value in zip(compiled.binds, values, strict=True)}
        try:
            cursor.execute(compiled.sql, values)
            found = cursor.fetchone()
        except connection.dialect.loaded_dbapi.Error:
            return connection.execute(self.statement, parameters).first()
        finally:
            cursor.close()
        if found is None:
            return None
        if compiled.row is None:
            return tuple(found)
        return compiled.row(
            *(
                value if p is None else p(value)
                for p, value in zip(compiled.processors, found, strict=True)
            )
        )

    def _compile(self, dialect: Dialect) -> _Compiled:
        compiled = self.statement.compile(dialect=dialect)
        by_name = {name: bind for bind, name in compiled.bind_names.items()}
        # qmark sends one value per placeholder (a name used twice, twice); pyformat a dict
        names = compiled.positiontup if compiled.positional else list(by_name)
        binds = []
        for name in names or ():
            bind = by_name[name]
            default = bind.callable() if bind.callable is not None else bind.value
            processor = bind.type.dialect_impl(dialect).bind_processor(dialect)
            binds.append((name, _REQUIRED if bind.required else default, processor))
        columns = getattr(self.statement, "selected_columns", None)  # text(): none
        processors: tuple = ()
        row = None
        if columns:
            processors = tuple(
                column.type.dialect_impl(dialect).result_processor(dialect, None)
                for column in columns
            )
            row = namedtuple("Row", list(columns.keys()), rename=True)
        return _Compiled(compiled.string, tuple(binds), compiled.positional, processors, row)
