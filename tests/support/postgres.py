"""Scratch PostgreSQL databases: created for one test session or benchmark run, always dropped.

The tests' server comes from `WEALTH_TEST_POSTGRES_URL` (default: the local server's `test`
database). Without a reachable server the tests skip, except in CI (`CI=true`), where they
fail: CI must never pass without them.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from wealth_pipeline.warehouse.engine import dispose_engines

DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


@contextmanager
def scratch_postgres(admin_url: str, prefix: str) -> Iterator[str]:
    """The URL of a new database `<prefix>_<random>` on `admin_url`'s server, dropped at exit."""
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        dispose_engines()
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def admin_url() -> str:
    return os.environ.get("WEALTH_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)


@contextmanager
def scratch_database(prefix: str) -> Iterator[str]:
    """A new database on the test server (URL with the psycopg driver), dropped afterwards;
    the test skips (fails in CI) when the server is unreachable."""
    import pytest

    with ExitStack() as stack:
        try:
            url = stack.enter_context(scratch_postgres(admin_url(), prefix))
        except Exception as exc:
            where = make_url(admin_url()).render_as_string(hide_password=True)
            message = f"PostgreSQL at {where} unreachable: {exc}"
            if IN_CI:
                pytest.fail(message)
            pytest.skip(message)
        yield url


def with_driver(url: str, driver: str) -> str:
    return make_url(url).set(drivername=driver).render_as_string(hide_password=False)
