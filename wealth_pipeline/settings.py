"""Configuration from environment variables (documented in `.env.example`).

Every setting has a default that works on the embedded setup: a SQLite warehouse and the
ECB excerpt shipped in the package, so nothing needs the internet or a server.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

FX_SOURCES = ("ecb_file", "frankfurter")
SHIPPED_ECB_EXCERPT = Path(__file__).parent / "fx" / "data" / "eurofxref-excerpt.csv"
FRANKFURTER_PUBLIC_URL = "https://api.frankfurter.dev/v1"


def default_home() -> Path:
    data_home = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data_home) / "wealth-pipeline"


@dataclass(frozen=True)
class Settings:
    home: Path
    database_url: str
    fx_source: str
    frankfurter_url: str
    ecb_file: str
    http_timeout_seconds: float
    http_max_attempts: int
    http_backoff_seconds: float
    schedules_running: bool

    @property
    def dagster_home(self) -> Path:
        return Path(os.environ.get("DAGSTER_HOME") or self.home / "dagster")


def _env(name: str, default: str) -> str:
    value = os.environ.get(name, "").strip()
    return value or default


def _flag(name: str, default: bool) -> bool:
    value = os.environ.get(name, "").strip().lower()
    if not value:
        return default
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{name} must be true or false, not {value!r}")


def load_settings() -> Settings:
    """Read the settings now (not at import), so tests and the CLI can change the environment."""
    home = Path(_env("WEALTH_HOME", str(default_home()))).expanduser()
    database_url = _env("WEALTH_DATABASE_URL", f"sqlite:///{home / 'warehouse.sqlite'}")
    fx_source = _env("WEALTH_FX_SOURCE", "ecb_file")
    if fx_source not in FX_SOURCES:
        raise ValueError(
            f"WEALTH_FX_SOURCE must be one of {', '.join(FX_SOURCES)}, not {fx_source!r}"
        )
    ecb_file = _env("WEALTH_ECB_FILE", str(SHIPPED_ECB_EXCERPT))
    # The shipped excerpt never grows: schedules start stopped on it, running on a live source.
    live_source = fx_source == "frankfurter" or ecb_file != str(SHIPPED_ECB_EXCERPT)
    return Settings(
        home=home,
        database_url=database_url,
        fx_source=fx_source,
        frankfurter_url=_env("WEALTH_FRANKFURTER_URL", FRANKFURTER_PUBLIC_URL),
        ecb_file=ecb_file,
        http_timeout_seconds=float(_env("WEALTH_HTTP_TIMEOUT_SECONDS", "20")),
        http_max_attempts=int(_env("WEALTH_HTTP_MAX_ATTEMPTS", "5")),
        http_backoff_seconds=float(_env("WEALTH_HTTP_BACKOFF_SECONDS", "1.0")),
        schedules_running=_flag("WEALTH_SCHEDULES_RUNNING", live_source),
    )
