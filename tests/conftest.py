"""Shared fixtures: warehouses on SQLite and the real PostgreSQL, and the local fakes.

PostgreSQL comes from `WEALTH_TEST_POSTGRES_URL` (default: the local server's `test`
database). Each test session works in a database of its own, created here and dropped at
the end. Without a reachable server the PostgreSQL tests skip, except in CI (`CI=true`),
where they fail: CI must never pass without them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.frankfurter import FakeFrankfurter
from tests.fakes.smtp import FakeSmtp
from wealth_pipeline.warehouse.engine import dispose_engines, get_engine
from wealth_pipeline.warehouse.schema import metadata

DATA = Path(__file__).parent / "data"
ECB_SAMPLE = DATA / "eurofxref-sample.csv"
DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
# The embedded default asks Frankfurter's public host for days after the shipped excerpt:
# tests never leave 127.0.0.1, so they run offline unless a test points it at a local fake.
os.environ.setdefault("WEALTH_OFFLINE", "true")
# Reporting command-line work to Dagster costs ~12 ms per partition on SQLite: only the tests
# of that reporting (and the browser and `up` tests) turn it on.
os.environ.setdefault("WEALTH_RECORD_IN_DAGSTER", "false")


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this session (dropped afterwards)."""
    from tests.deployment import scratch_database

    with scratch_database("wealth_test") as url:
        yield url
        dispose_engines()


def _empty_tables(url: str) -> None:
    engine = get_engine(url)
    with engine.begin() as connection:
        for table in reversed(metadata.sorted_tables):
            connection.execute(table.delete())


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def warehouse_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated, empty warehouse on each backend."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'warehouse.sqlite'}"
    else:
        url = request.getfixturevalue("postgres_server_url")
    _empty_tables(url)
    return url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'warehouse.sqlite'}"


@pytest.fixture(scope="session")
def frankfurter_server() -> Iterator[FakeFrankfurter]:
    """One local Frankfurter v1 server for the session, serving the ECB sample."""
    server = FakeFrankfurter.from_file(ECB_SAMPLE).start()
    yield server
    server.stop()


@pytest.fixture
def frankfurter(frankfurter_server: FakeFrankfurter) -> Iterator[FakeFrankfurter]:
    """The session's fake server with no faults queued and an empty request log."""
    frankfurter_server.reset()
    yield frankfurter_server
    frankfurter_server.reset()


@pytest.fixture(scope="session")
def smtp_server() -> Iterator[FakeSmtp]:
    """One real SMTP server (aiosmtpd on 127.0.0.1) for the session."""
    server = FakeSmtp().start()
    yield server
    server.stop()


@pytest.fixture
def smtp(smtp_server: FakeSmtp, monkeypatch: pytest.MonkeyPatch) -> FakeSmtp:
    """The session's SMTP server, emptied, with WEALTH_SMTP_* pointing at it."""
    smtp_server.reset()
    for name, value in smtp_server.environment().items():
        monkeypatch.setenv(name, value)
    return smtp_server


# The production-shaped Dagster deployment (webserver and daemon) its tests share.
from tests.deployment import dagster_deployment  # noqa: E402, F401
