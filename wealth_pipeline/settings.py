"""Configuration from environment variables (documented in `.env.example`).

Every setting has a default that works on the embedded setup: a SQLite warehouse and ECB
rates from the excerpt shipped in the package for the days it holds, from Frankfurter v1 for
every later day (`WEALTH_OFFLINE=true`: the excerpt only, no connection is ever opened).
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

FX_SOURCES = ("auto", "ecb_file", "frankfurter")
SMTP_SECURITY = ("starttls", "ssl", "none")
SHIPPED_ECB_EXCERPT = Path(__file__).parent / "fx" / "data" / "eurofxref-excerpt.csv"
FRANKFURTER_PUBLIC_URL = "https://api.frankfurter.dev/v1"

# Argon2id for the password-derived keys: RFC 9106's second recommendation (t=3, 64 MiB, p=4).
# Lowered only by explicit configuration (tests); never lower them in production.
ARGON2_TIME_COST = 3
ARGON2_MEMORY_KIB = 65536
ARGON2_PARALLELISM = 4


def default_home() -> Path:
    data_home = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data_home) / "wealth-pipeline"


@dataclass(frozen=True)
class Settings:
    home: Path
    database_url: str
    fx_source: str  # auto: the shipped excerpt, then Frankfurter for later days
    frankfurter_url: str
    ecb_file: str
    http_timeout_seconds: float
    http_max_attempts: int
    http_backoff_seconds: float
    schedules_running: bool
    # The pipeline worker's X25519 private key (unattended sync); the public key sits beside it.
    sync_key_file: Path
    # Argon2id parameters for new password-derived keys (existing users keep theirs).
    argon2_time_cost: int = ARGON2_TIME_COST
    argon2_memory_kib: int = ARGON2_MEMORY_KIB
    argon2_parallelism: int = ARGON2_PARALLELISM
    # FinTS product registration (Deutsche Kreditwirtschaft); banks refuse clients without one.
    fints_product_id: str | None = None
    # How long an integration waits for a person to approve a login in their banking app.
    two_fa_wait_seconds: float = 120.0
    # The daily sync: accounts synced at once overall, and at most this many per broker
    # (one bank is never hit by many parallel logins).
    sync_max_workers: int = 8
    sync_max_per_broker: int = 2
    # Outgoing mail: an SMTP server, or (no host) `.eml` files in the outbox folder. The
    # password is read from WEALTH_SMTP_PASSWORD only when sending, never kept here.
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_security: str = "starttls"
    smtp_user: str | None = None
    smtp_timeout_seconds: float = 30.0
    mail_from: str = "Wealth Tracker <wealth@localhost>"
    outbox_dir: Path = Path("outbox")
    # The read-only API (`wealth api`): where it listens and how long its tokens live. Its
    # signing key is read from WEALTH_API_SECRET_KEY by `api.tokens` only, never kept here.
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    api_access_token_minutes: int = 10
    api_refresh_token_days: int = 14
    api_key_file: Path = Path("api_secret.key")
    # Per API worker: answers kept by their ETag (user, marts build, query), MiB; 0: none.
    api_answer_cache_mib: int = 32
    # When the ECB refresh schedule ticks (cron, Europe/Berlin); every sensor's minimum
    # interval when set (None: each sensor's own). Short values are for tests and trials.
    fx_refresh_cron: str = "30 16 * * *"
    sensor_interval_seconds: int | None = None
    # No live rate source is contacted (WEALTH_OFFLINE): `auto` reads only the shipped excerpt.
    offline: bool = False
    # Work done by the command line (demo setup, imports, backfills, marts builds) is reported
    # to Dagster as materializations, so the UI shows what exists (WEALTH_RECORD_IN_DAGSTER).
    record_in_dagster: bool = True
    # Another base URL per broker code (WEALTH_BROKER_URL_<CODE>): the catalogue's
    # api_base_url (fints_server for FinTS banks) replaced, e.g. for a proxy or a recording.
    broker_urls: Mapping[str, str] = field(default_factory=dict)

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


def _positive_int(name: str, default: int, minimum: int = 1) -> int:
    raw = _env(name, str(default))
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name} must be a whole number, not {raw!r}") from None
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, not {value}")
    return value


def _seconds(name: str, default: float, *, allow_zero: bool) -> float:
    raw = _env(name, str(default))
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number of seconds, not {raw!r}") from None
    if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        bound = "at least 0" if allow_zero else "more than 0"
        raise ValueError(f"{name} must be {bound} seconds, not {raw!r}")
    return value


def _cron(name: str, default: str) -> str:
    value = " ".join(_env(name, default).split())
    if len(value.split(" ")) != 5:
        raise ValueError(f"{name} must be a cron expression of 5 fields, not {value!r}")
    return value


BROKER_URL_PREFIX = "WEALTH_BROKER_URL_"


def _broker_urls() -> dict[str, str]:
    """`WEALTH_BROKER_URL_<CODE>=https://...` for each broker whose base URL is overridden."""
    urls = {}
    for name, raw in os.environ.items():
        if not name.startswith(BROKER_URL_PREFIX) or not raw.strip():
            continue
        code = name[len(BROKER_URL_PREFIX) :].lower()
        if not re.fullmatch(r"[a-z][a-z0-9_]{1,39}", code):
            raise ValueError(f"{name}: {code!r} is not a broker code (wealth brokers list)")
        value = raw.strip().rstrip("/")
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{name} must be an http:// or https:// URL, not {raw.strip()!r}")
        urls[code] = value
    return urls


def load_settings() -> Settings:
    """Read the settings now (not at import), so tests and the CLI can change the environment."""
    home = Path(_env("WEALTH_HOME", str(default_home()))).expanduser()
    database_url = _env("WEALTH_DATABASE_URL", f"sqlite:///{home / 'warehouse.sqlite'}")
    fx_source = _env("WEALTH_FX_SOURCE", "auto")
    if fx_source not in FX_SOURCES:
        raise ValueError(
            f"WEALTH_FX_SOURCE must be one of {', '.join(FX_SOURCES)}, not {fx_source!r}"
        )
    ecb_file = _env("WEALTH_ECB_FILE", str(SHIPPED_ECB_EXCERPT))
    smtp_security = _env("WEALTH_SMTP_SECURITY", "starttls").lower()
    if smtp_security not in SMTP_SECURITY:
        raise ValueError(
            f"WEALTH_SMTP_SECURITY must be one of {', '.join(SMTP_SECURITY)}, not {smtp_security!r}"
        )
    argon2_parallelism = _positive_int("WEALTH_ARGON2_PARALLELISM", ARGON2_PARALLELISM)
    # Argon2 needs at least 8 KiB of memory per lane.
    argon2_memory_kib = _positive_int(
        "WEALTH_ARGON2_MEMORY_KIB", ARGON2_MEMORY_KIB, minimum=8 * argon2_parallelism
    )
    return Settings(
        home=home,
        database_url=database_url,
        fx_source=fx_source,
        frankfurter_url=_env("WEALTH_FRANKFURTER_URL", FRANKFURTER_PUBLIC_URL),
        ecb_file=ecb_file,
        http_timeout_seconds=_seconds("WEALTH_HTTP_TIMEOUT_SECONDS", 20, allow_zero=False),
        http_max_attempts=_positive_int("WEALTH_HTTP_MAX_ATTEMPTS", 5),
        http_backoff_seconds=_seconds("WEALTH_HTTP_BACKOFF_SECONDS", 1.0, allow_zero=True),
        # Running by default, also on the shipped excerpt (the demo): there the schedules skip,
        # saying why, the days it cannot have (`fx.sources.shipped_excerpt_end`).
        schedules_running=_flag("WEALTH_SCHEDULES_RUNNING", True),
        argon2_time_cost=_positive_int("WEALTH_ARGON2_TIME_COST", ARGON2_TIME_COST),
        argon2_memory_kib=argon2_memory_kib,
        argon2_parallelism=argon2_parallelism,
        sync_key_file=Path(_env("WEALTH_SYNC_KEY_FILE", str(home / "keys" / "sync_key.pem")))
        .expanduser()
        .absolute(),
        fints_product_id=os.environ.get("WEALTH_FINTS_PRODUCT_ID", "").strip() or None,
        two_fa_wait_seconds=_seconds("WEALTH_2FA_WAIT_SECONDS", 120.0, allow_zero=True),
        sync_max_workers=_positive_int("WEALTH_SYNC_MAX_WORKERS", 8),
        sync_max_per_broker=_positive_int("WEALTH_SYNC_MAX_PER_BROKER", 2),
        smtp_host=os.environ.get("WEALTH_SMTP_HOST", "").strip() or None,
        smtp_port=_positive_int("WEALTH_SMTP_PORT", 465 if smtp_security == "ssl" else 587),
        smtp_security=smtp_security,
        smtp_user=os.environ.get("WEALTH_SMTP_USER", "").strip() or None,
        smtp_timeout_seconds=_seconds("WEALTH_SMTP_TIMEOUT_SECONDS", 30.0, allow_zero=False),
        mail_from=_env("WEALTH_MAIL_FROM", "Wealth Tracker <wealth@localhost>"),
        outbox_dir=Path(_env("WEALTH_OUTBOX_DIR", str(home / "outbox"))).expanduser(),
        api_host=_env("WEALTH_API_HOST", "127.0.0.1"),
        api_port=_positive_int("WEALTH_API_PORT", 8000),
        api_access_token_minutes=_positive_int("WEALTH_API_ACCESS_TOKEN_MINUTES", 10),
        api_refresh_token_days=_positive_int("WEALTH_API_REFRESH_TOKEN_DAYS", 14),
        api_answer_cache_mib=_positive_int("WEALTH_API_ANSWER_CACHE_MIB", 32, minimum=0),
        api_key_file=Path(_env("WEALTH_API_KEY_FILE", str(home / "keys" / "api_secret.key")))
        .expanduser()
        .absolute(),
        fx_refresh_cron=_cron("WEALTH_FX_REFRESH_CRON", "30 16 * * *"),
        sensor_interval_seconds=(
            _positive_int("WEALTH_SENSOR_INTERVAL_SECONDS", 30)
            if _env("WEALTH_SENSOR_INTERVAL_SECONDS", "")
            else None
        ),
        offline=_flag("WEALTH_OFFLINE", False),
        record_in_dagster=_flag("WEALTH_RECORD_IN_DAGSTER", True),
        broker_urls=_broker_urls(),
    )
