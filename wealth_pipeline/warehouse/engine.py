"""Engines for the warehouse, migrated to the newest schema on first use."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from pathlib import Path
from urllib.parse import quote

from sqlalchemy import URL, Engine, create_engine, event, text
from sqlalchemy.engine import ExceptionContext, make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError, OperationalError

from wealth_pipeline.files import create_private_file, private_folder
from wealth_pipeline.settings import load_settings
from wealth_pipeline.warehouse import dialect

MIGRATIONS = Path(__file__).parent / "migrations"
SQLITE_BUSY_TIMEOUT_SECONDS = 30
# Serialises concurrent first-use upgrades on PostgreSQL (any fixed 64-bit number).
PG_MIGRATION_LOCK = 7_395_113_209

_engines: dict[tuple[str, bool, bool], Engine] = {}
_lock = threading.Lock()


class WarehouseUnavailable(OperationalError):
    """The warehouse cannot be written or reached right now; `str()` says why and what to do.

    Raised in place of the driver's error (which stays available as `orig`), so the `wealth`
    command line and the runs show one clear sentence instead of a driver traceback. It is
    still an `OperationalError`: code that handles database errors keeps handling it.
    """

    def __init__(self, message: str, original: DBAPIError) -> None:
        super().__init__(
            original.statement,
            original.params,
            original.orig,
            hide_parameters=True,
            connection_invalidated=original.connection_invalidated,
        )
        self.message = message

    def __str__(self) -> str:
        return self.message

    def __reduce__(self):
        return (_unavailable, (self.message,))


def _unavailable(message: str) -> Exception:
    return Exception(message)  # what survives pickling: the sentence


def explain(url: URL, context: ExceptionContext) -> str | None:
    """One sentence for a warehouse that is read-only, locked, unreachable or cut off."""
    where = url.render_as_string(hide_password=True)
    said = str(context.original_exception).strip()
    lowered = said.lower()
    if url.get_backend_name() == "sqlite":
        path = url.database or "(memory)"
        if "readonly" in lowered or "read-only" in lowered:
            return (
                f"The warehouse {where} is read-only: this process may not write {path} (check "
                "the permissions of the file and its folder, and that the disk is not mounted "
                "read-only). Nothing was written."
            )
        if "database is locked" in lowered or "database table is locked" in lowered:
            return (
                f"The warehouse {where} is locked: another process kept a write transaction "
                f"open for more than {SQLITE_BUSY_TIMEOUT_SECONDS} s. Nothing was written; try "
                "again when it has finished."
            )
        unopened = "unable to open database file" in lowered
        file = sqlite_path(url)
        if (
            unopened
            and file is not None
            and os.access(file.parent, os.W_OK | os.X_OK)  # else: the folder's permissions
            and not file.exists()
        ):
            return (
                f"The warehouse file {path} is missing (deleted or moved): restore it, or "
                "create a new one with `wealth init`. Nothing was written."
            )
        if unopened:
            return (
                f"The warehouse {where} cannot be opened: its folder is missing, or this "
                "process may not enter it or create files in it (SQLite keeps its -wal and "
                "-shm files beside the database). Nothing was written."
            )
        if "disk is full" in lowered or "disk i/o error" in lowered:
            return f"The warehouse {where} cannot be written: {said}. Nothing was written."
        return None
    first_line = said.splitlines()[0] if said else "no answer"
    if context.connection is None:
        return f"The warehouse {where} cannot be reached: {first_line}"
    if context.is_disconnect:
        return (
            f"The connection to the warehouse {where} was lost ({first_line}): the server "
            "restarted or the network failed. The transaction was rolled back, nothing of it "
            "was written; run it again once the server is back."
        )
    return None


def _clear_errors(engine: Engine) -> None:
    @event.listens_for(engine, "handle_error")
    def _explain(context: ExceptionContext) -> Exception | None:
        if context.is_pre_ping or not isinstance(context.sqlalchemy_exception, DBAPIError):
            return None  # the pool's own liveness check retries a dead connection itself
        message = explain(engine.url, context)
        if message is None:
            return None
        return WarehouseUnavailable(message, context.sqlalchemy_exception)


def get_engine(
    url: str | None = None,
    *,
    readonly: bool = False,
    migrate: bool = True,
    must_exist: bool = False,
) -> Engine:
    """The process-wide engine for `url` (default: `WEALTH_DATABASE_URL`), upgraded once.

    A `readonly` engine starts plain deferred transactions on SQLite so readers never wait
    for a writer (WAL); the writer engine takes the write lock when a transaction begins, so
    two writers queue on the busy timeout instead of failing half-way. With `must_exist`
    (the API), a SQLite file is never created, and one deleted or replaced is noticed.
    """
    url = url or load_settings().database_url
    key = (url, readonly, must_exist)
    with _lock:
        engine = _engines.get(key)
        if engine is None:
            engine = create_warehouse_engine(url, readonly=readonly, must_exist=must_exist)
            if migrate:
                upgrade(engine)
            _engines[key] = engine
        return engine


def reader(engine: Engine) -> Engine:
    """An engine for reads: on SQLite one that does not take the write lock (WAL readers)."""
    if not dialect.is_sqlite(engine):
        return engine
    return get_engine(engine.url.render_as_string(hide_password=False), readonly=True)


def dispose_engines() -> None:
    with _lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()


def sqlite_path(url: str | URL) -> Path | None:
    """The file of a SQLite warehouse URL; None for another backend or an in-memory one."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database).expanduser()


def _file_identity(path: Path) -> tuple[int, int] | None:
    try:
        found = os.stat(path)
    except FileNotFoundError:
        return None
    return found.st_dev, found.st_ino


def create_warehouse_engine(
    url: str, *, readonly: bool = False, must_exist: bool = False
) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        engine = create_engine(url, pool_pre_ping=True)
        _clear_errors(engine)
        return engine
    path = sqlite_path(parsed)
    if path is not None and not must_exist:
        # A new warehouse is created empty here, 0600 in a new 0700 folder, before SQLite
        # opens it: SQLite gives the -wal and -shm files the database file's mode.
        private_folder(path.parent)
        with contextlib.suppress(OSError):  # a folder we may not write: SQLite will say so
            create_private_file(path)
    if path is not None and must_exist:
        # Open the file only if it is there (mode=rw never creates one), and check at each
        # checkout that the path still names the file the connection has open: a deleted
        # file answers "cannot be opened" (503 in the API) instead of from the unlinked
        # inode, and a replaced one is reopened. Nothing is written into a vanished file.
        location = f"file:{quote(str(path.absolute()))}?mode=rw"

        def connect() -> sqlite3.Connection:
            return sqlite3.connect(
                location,
                uri=True,
                timeout=SQLITE_BUSY_TIMEOUT_SECONDS,
                check_same_thread=False,
            )

        engine = create_engine(url, creator=connect)

        @event.listens_for(engine, "connect")
        def _remember_file(_dbapi_connection, record) -> None:
            record.info["file"] = _file_identity(path)

        @event.listens_for(engine, "checkout")
        def _same_file(_dbapi_connection, record, _proxy) -> None:
            if _file_identity(path) != record.info.get("file"):
                raise DisconnectionError(f"the warehouse file {path} was deleted or replaced")

    else:
        engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS})

    begin = "BEGIN" if readonly else "BEGIN IMMEDIATE"

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:
        # Let SQLAlchemy, not the sqlite3 module, decide where transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_SECONDS * 1000}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection) -> None:
        # `sqlite_begin` lets one connection read without the write lock first (the marts
        # build computes in a deferred transaction, then swaps rows in an immediate one).
        statement = connection.get_execution_options().get("sqlite_begin", begin)
        if statement == "BEGIN":
            # A deferred BEGIN takes no lock and cannot wait or fail for one: sent on the
            # driver directly, it costs an API read 40 µs less than a SQLAlchemy execution.
            connection.connection.driver_connection.execute(statement)
        else:
            connection.exec_driver_sql(statement)

    _clear_errors(engine)
    return engine


def alembic_config():
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> str | None:
    """Apply the warehouse migrations up to `revision`; a no-op when already there."""
    from alembic import command

    if revision == "head" and current_revision(engine) == head_revision():
        return head_revision()
    config = alembic_config()
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": PG_MIGRATION_LOCK}
            )
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
    return current_revision(engine)
