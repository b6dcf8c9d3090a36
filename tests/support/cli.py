"""The `wealth` command line in-process (CliRunner), and the `env` fixture its tests share:
alice (EUR) and bob (CHF) on each backend, cheap Argon2 through the settings."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from tests.support.factories import CHEAP, PASSWORD
from wealth_pipeline.cli import main
from wealth_pipeline.security.vault import create_user
from wealth_pipeline.warehouse.engine import get_engine


@pytest.fixture
def env(warehouse_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """alice (EUR) and bob (CHF) on each backend, the settings pointing at it."""
    monkeypatch.setenv("WEALTH_DATABASE_URL", warehouse_url)
    monkeypatch.setenv("WEALTH_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("WEALTH_ARGON2_TIME_COST", str(CHEAP.time_cost))
    monkeypatch.setenv("WEALTH_ARGON2_MEMORY_KIB", str(CHEAP.memory_kib))
    monkeypatch.setenv("WEALTH_ARGON2_PARALLELISM", str(CHEAP.parallelism))
    monkeypatch.setenv("TEST_WEALTH_PASSWORD", PASSWORD)
    with get_engine(warehouse_url).begin() as connection:
        create_user(connection, "alice", PASSWORD, base_currency="EUR")
        create_user(connection, "bob", "bobs password", base_currency="CHF")
    return warehouse_url


def run(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(main, list(args), input=input)


def wealth_ok(*args: str, input: str | None = None) -> Result:
    result = run(*args, input=input)
    assert result.exit_code == 0, result.output
    return result


def add_manual(currency: str = "USD", name: str = "Cash box") -> int:
    result = wealth_ok(
        "accounts", "add", "--user", "alice", "--broker", "manual", "--name", name,
        "--type", "savings", "--currency", currency,
    )  # fmt: skip
    return account_id_in(result)


def account_id_in(result: Result) -> int:
    return int(result.output.split("Added account ")[1].split(":")[0])
