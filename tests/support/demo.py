"""The demo as `scripts/dev up` makes it, offline, on each warehouse: the shared environment."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

CLOCK = date(2026, 10, 30)  # the shipped ECB excerpt's last day: the demo's day offline
SHIPPED = Path(__file__).resolve().parents[2] / "wealth_pipeline" / "fx" / "data" / "eurofxref-excerpt.csv"


@pytest.fixture
def demo_env(warehouse_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh WEALTH_HOME (and DAGSTER_HOME) on `warehouse_url`, offline, cheap Argon2."""
    monkeypatch.setenv("WEALTH_DATABASE_URL", warehouse_url)
    monkeypatch.setenv("WEALTH_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster"))
    monkeypatch.setenv("WEALTH_OFFLINE", "true")
    for name in ("WEALTH_ECB_FILE", "WEALTH_FX_SOURCE", "WEALTH_SYNC_KEY_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("WEALTH_ARGON2_TIME_COST", "1")
    monkeypatch.setenv("WEALTH_ARGON2_MEMORY_KIB", "1024")
    monkeypatch.setenv("WEALTH_ARGON2_PARALLELISM", "1")
    return warehouse_url
