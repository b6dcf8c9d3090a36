"""The suite's common fixtures (registered by tests/conftest.py): warehouses on SQLite and the
real PostgreSQL, the local Frankfurter and SMTP servers, cheap Argon2.

PostgreSQL: each test session works in a scratch database of its own (tests/support/postgres.py).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.data import ECB_SAMPLE
from tests.support.factories import CHEAP
from tests.support.fakes.frankfurter import FakeFrankfurter
from tests.support.fakes.smtp import FakeSmtp
from tests.support.postgres import scratch_database
from wealth_pipeline.security.kdf import KdfParams
from wealth_pipeline.warehouse.engine import dispose_engines, get_engine
from wealth_pipeline.warehouse.schema import metadata


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this session (dropped afterwards)."""
    with scratch_database("wealth_test") as url:
        yield url
        dispose_engines()


def empty_tables(url: str) -> None:
    """Delete every row of the warehouse at `url` (children first)."""
    engine = get_engine(url)
    with engine.begin() as connection:
        for table in reversed(metadata.sorted_tables):
            connection.execute(table.delete())


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty SQLite warehouse migrated once for the session: each test gets a copy."""
    path = tmp_path_factory.mktemp("template") / "warehouse.sqlite"
    url = f"sqlite:///{path}"
    get_engine(url).dispose()  # the last connection checkpoints the WAL into the file
    for suffix in ("-wal", "-shm"):
        assert not Path(f"{path}{suffix}").exists()
    return path


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def warehouse_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated, empty warehouse on each backend."""
    if request.param == "sqlite":
        path = tmp_path / "warehouse.sqlite"
        shutil.copy(request.getfixturevalue("migrated_sqlite"), path)  # 0600, as made
        return f"sqlite:///{path}"
    url = request.getfixturevalue("postgres_server_url")
    empty_tables(url)
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


@pytest.fixture
def cheap_argon2(monkeypatch: pytest.MonkeyPatch) -> KdfParams:
    """WEALTH_ARGON2_* lowered for this test (what `KdfParams.from_settings()` then reads).

    Production never lowers them; tests do, explicitly, so the suite stays fast."""
    monkeypatch.setenv("WEALTH_ARGON2_TIME_COST", str(CHEAP.time_cost))
    monkeypatch.setenv("WEALTH_ARGON2_MEMORY_KIB", str(CHEAP.memory_kib))
    monkeypatch.setenv("WEALTH_ARGON2_PARALLELISM", str(CHEAP.parallelism))
    return CHEAP
