"""Bad input at the command line, in CSV files and in credentials, answered with one clear
sentence and changing nothing (SQLite and PostgreSQL); private files whatever the umask;
and no secret in what Dagster stores and shows."""

from __future__ import annotations

import json
import os
import stat
import threading
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import dagster as dg
import pytest
from click.testing import Result
from sqlalchemy import func, insert, select, text

from tests.support.cli import add_manual, run
from wealth_pipeline import clock
from wealth_pipeline.brokers.catalogue import (
    CredentialsInvalid,
    schema_problems,
    validate_credentials,
)
from wealth_pipeline.fx.lookup import RateBook
from wealth_pipeline.snapshots.csv_import import MAX_LISTED_ERRORS, parse_balance_csv
from wealth_pipeline.snapshots.store import NewSnapshot, SnapshotError, write_snapshots
from wealth_pipeline.snapshots.values import EARLIEST_DAY, parse_balance
from wealth_pipeline.warehouse.engine import get_engine
from wealth_pipeline.warehouse.schema import (
    account_snapshots,
    exchange_rates,
    financial_accounts,
    users,
)

TOO_LARGE_IDS = [str(2**31), str(2**63), str(2**64)]


def refused(result: Result, code: int, *words: str) -> None:
    """Exit `code` with a message, never a traceback."""
    assert result.exit_code == code, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    for word in words:
        assert word in result.output, result.output


def snapshot_count(url: str) -> int:
    with get_engine(url).connect() as connection:
        return connection.execute(select(func.count()).select_from(account_snapshots)).scalar_one()


# --- numbers, dates and ids at the command line ---------------------------------------------


def test_huge_balances_and_ids_are_one_sentence(env: str) -> None:
    account = add_manual("EUR")
    for balance in ("1" * 25, "9" * 40 + ".5", "1" * 30 + ".123456"):
        result = run(
            "snapshots", "add", str(account), "--user", "alice", "--date", "2024-01-02",
            "--balance", balance,
        )  # fmt: skip
        refused(result, 2, "too large")
    for bad_id in TOO_LARGE_IDS:
        for args in (
            (
                "snapshots",
                "add",
                bad_id,
                "--user",
                "alice",
                "--date",
                "2024-01-02",
                "--balance",
                "1",
            ),
            (
                "accounts",
                "credentials",
                bad_id,
                "--user",
                "alice",
                "--password-env",
                "TEST_WEALTH_PASSWORD",
            ),
            ("accounts", "remove", bad_id, "--user", "alice", "--yes"),
            ("accounts", "sync", "on", bad_id, "--user", "alice"),
            ("import", "csv", bad_id, "-", "--user", "alice"),
        ):
            refused(run(*args, input="date,balance,currency\n2024-01-02,1,EUR\n"), 2, "range")
    assert snapshot_count(env) == 0


def test_snapshot_days_are_bounded(env: str) -> None:
    account = add_manual("EUR")
    tomorrow = clock.today() + timedelta(days=1)

    def add(day: str) -> Result:
        return run(
            "snapshots", "add", str(account), "--user", "alice", "--date", day, "--balance", "5"
        )

    for day in ("0001-01-01", "0001-01-15", "1700-01-01", "1998-12-31"):
        refused(add(day), 2, "before 1999-01-01")
    refused(add((tomorrow + timedelta(days=1)).isoformat()), 2, "in the future")
    refused(add("٢٠٢٤-٠١-٠٢"), 2, "bad date")  # noqa: RUF001 (Arabic-Indic digits)
    assert snapshot_count(env) == 0
    assert add(EARLIEST_DAY.isoformat()).exit_code == 0
    assert add(tomorrow.isoformat()).exit_code == 0  # a time zone ahead of the server's
    assert snapshot_count(env) == 2


def test_every_writer_refuses_days_out_of_bounds(env: str) -> None:
    account = add_manual("EUR")
    with get_engine(env).begin() as connection:
        for day in (date(1, 1, 15), date(1700, 1, 1), clock.today() + timedelta(days=2)):
            with pytest.raises(SnapshotError, match=r"before 1999-01-01|in the future"):
                write_snapshots(
                    connection, account, [NewSnapshot(day, Decimal(1), "EUR")], source="auto"
                )
    assert snapshot_count(env) == 0


def test_csv_dates_out_of_bounds_change_nothing(env: str, tmp_path: Path) -> None:
    account = add_manual("EUR")
    file = tmp_path / "old.csv"
    file.write_text("date,balance,currency\n2024-01-02,1,EUR\n1700-01-01,2,EUR\n")
    result = run("import", "csv", str(account), str(file), "--user", "alice")
    refused(result, 1, "line 3: date 1700-01-01 is before 1999-01-01", "nothing was imported")
    assert snapshot_count(env) == 0


# --- exchange rates for odd codes and days ----------------------------------------------------


def test_rates_for_unknown_codes_and_days_before_the_ecb(env: str) -> None:
    with get_engine(env).begin() as connection:
        connection.execute(
            insert(exchange_rates).values(
                rate_date=date(2024, 1, 2), quote_currency="USD", rate=Decimal("1.1"), source="t"
            )
        )
    refused(run("fx", "rate", "XAU", "XAU"), 1, "unknown currency XAU")
    refused(run("fx", "rate", "DEM", "DEM", "--date", "1998-01-01"), 1, "unknown currency DEM")
    for day in ("0001-01-01", "0001-01-14"):
        refused(run("fx", "rate", "USD", "EUR", "--date", day), 1, "no ECB rate for USD")
    with get_engine(env).connect() as connection:
        book = RateBook.load(connection, date(1, 1, 1), date(1, 1, 14))
    assert not book.rate("XAU", "xau", date(2024, 1, 2))
    assert book.rate("EUR", "EUR", date(2024, 1, 2)).rate == 1


# --- names ------------------------------------------------------------------------------------


def test_names_with_a_newline_or_control_characters_are_refused(env: str) -> None:
    refused(
        run("users", "create", "carol\n", "--password-env", "TEST_WEALTH_PASSWORD"), 2, "username"
    )
    for name in ("Giro\x1b[31m", "Bell\x07", "Left\u202eright", "two\nlines"):
        result = run(
            "accounts", "add", "--user", "alice", "--broker", "manual", "--name", name,
            "--currency", "EUR",
        )  # fmt: skip
        refused(result, 1, "control character")
    with get_engine(env).connect() as connection:
        assert set(connection.execute(select(users.c.username)).scalars()) == {"alice", "bob"}
        assert (
            connection.execute(select(func.count()).select_from(financial_accounts)).scalar() == 0
        )
    refused(run("users", "set", "alice", "--email", "a@exa\x1bmple.org"), 2, "email")


# --- CSV files ----------------------------------------------------------------------------------


def test_csv_errors_are_capped_and_counted(env: str, tmp_path: Path) -> None:
    account = add_manual("EUR")
    file = tmp_path / "bad.csv"
    file.write_text("date,balance,currency\n" + "2024-01-02,x,EUR\n" * 200)
    result = run("import", "csv", str(account), str(file), "--user", "alice")
    refused(result, 1, "200 of 200 rows are invalid", "... and 150 more errors")
    assert result.output.count("bad number") == MAX_LISTED_ERRORS
    assert snapshot_count(env) == 0


def test_a_large_bad_file_keeps_only_the_first_errors() -> None:
    parsed = parse_balance_csv(
        "date,balance,currency\n" + "2024-01-02,x,EUR\n" * 20_000,
        account_currency="EUR",
        known_currency=lambda code: True,
    )
    assert len(parsed.errors) == MAX_LISTED_ERRORS and parsed.error_count == 20_000
    assert parsed.errors[-1].line == MAX_LISTED_ERRORS + 1 and not parsed.ok


@pytest.mark.parametrize("digits", ["١٢٣", "१२३", "１２３", "12³"])  # noqa: RUF001
def test_balances_take_ascii_digits_only(env: str, tmp_path: Path, digits: str) -> None:
    with pytest.raises(ValueError, match="ASCII digits"):
        parse_balance(digits)
    account = add_manual("EUR")
    file = tmp_path / "digits.csv"
    file.write_text(f"date,balance,currency\n2024-01-02,{digits},EUR\n", encoding="utf-8")
    refused(run("import", "csv", str(account), str(file), "--user", "alice"), 1, "ASCII digits")
    assert snapshot_count(env) == 0


def test_concurrent_imports_into_one_account(env: str, tmp_path: Path) -> None:
    """The second import of the same day waits for the first, then is refused cleanly."""
    account = add_manual("EUR")
    file = tmp_path / "day.csv"
    file.write_text("date,balance,currency\n2024-01-02,7,EUR\n")
    engine = get_engine(env)
    first = engine.connect()
    transaction = first.begin()
    # Whatever happens, the first connection ends: an open transaction would hold its row
    # locks and leave every later test's clean-up waiting.
    try:
        write_snapshots(
            first, account, [NewSnapshot(date(2024, 1, 2), Decimal(5), "EUR")], source="import"
        )
        outcome: dict[str, Result] = {}
        second = threading.Thread(
            target=lambda: outcome.update(
                result=run("import", "csv", str(account), str(file), "--user", "alice")
            )
        )
        second.start()
        if engine.dialect.name == "postgresql":
            # Commit only once the second import waits on a lock: the race itself, every time.
            with engine.connect() as watcher:
                deadline = time.monotonic() + 30
                while not watcher.execute(
                    text(
                        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                        "AND wait_event_type = 'Lock'"
                    )
                ).scalar():
                    assert time.monotonic() < deadline and second.is_alive(), "no import waited"
                    time.sleep(0.01)
        transaction.commit()
        first.close()
        second.join(timeout=60)
    finally:
        first.close()
    refused(outcome["result"], 1, "already exists", "nothing was imported")
    with engine.connect() as connection:
        balances = connection.execute(select(account_snapshots.c.balance)).scalars().all()
    assert balances == [Decimal(5)]


# --- credentials ------------------------------------------------------------------------------

TOTP_SCHEMA = {
    "type": "object",
    "required": ["secret"],
    "properties": {
        "secret": {
            "type": "string",
            "format": "password",
            "contentEncoding": "base32",
            "x-minBits": 112,
            "title": "TOTP secret",
            "description": "base32",
        }
    },
    "additionalProperties": False,
}


@pytest.mark.parametrize(
    ("secret", "problem"),
    [
        ("not base32 1!", "must be base32"),
        ("ABCDEFGH1", "must be base32"),
        ("Q", "must be base32"),  # a length no encoder makes
        ("QQQ", "must be base32"),
        ("JBSWY3DPEHPK3PXP", "too short: 80 bits"),
    ],
)
def test_totp_secrets_must_be_base32(secret: str, problem: str) -> None:
    assert schema_problems(TOTP_SCHEMA) == []
    with pytest.raises(CredentialsInvalid, match=problem) as refused_secret:
        validate_credentials(TOTP_SCHEMA, {"secret": secret})
    assert secret not in str(refused_secret.value)
    good = "jbsw y3dp ehpk 3pxp jbsw y3dp ehpk 3pxp"  # as setup pages show it
    assert validate_credentials(TOTP_SCHEMA, {"secret": good}) == {"secret": good}


def test_a_bad_totp_secret_is_refused_before_anything_is_stored(env: str, tmp_path: Path) -> None:
    file = tmp_path / "tw.json"
    file.write_text(
        json.dumps({"username": "me", "password": "pw", "totp_secret": "JBSWY3DPEHPK3PXP"})
    )
    result = run(
        "accounts", "add", "--user", "alice", "--broker", "truewealth", "--name", "TW",
        "--currency", "CHF", "--credentials-file", str(file), "--password-env", "TEST_WEALTH_PASSWORD",
    )  # fmt: skip
    refused(result, 1, "totp_secret: is too short")
    with get_engine(env).connect() as connection:
        assert (
            connection.execute(select(func.count()).select_from(financial_accounts)).scalar() == 0
        )


# --- private files --------------------------------------------------------------------------------


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_wealth_home_is_private_whatever_the_umask(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("WEALTH_HOME", str(home))
    monkeypatch.delenv("WEALTH_DATABASE_URL", raising=False)
    monkeypatch.setenv("DAGSTER_HOME", str(home / "dagster"))
    monkeypatch.setenv("WEALTH_API_SECRET_KEY", "")
    previous = os.umask(0o022)
    try:
        assert run("init").exit_code == 0
        assert run("keys", "init").exit_code == 0
        from wealth_pipeline.api.tokens import load_signing_key
        from wealth_pipeline.mail import OutboxSession
        from wealth_pipeline.settings import load_settings

        load_signing_key(load_settings())
        message = __import__("email.message").message.EmailMessage()
        message["To"] = "alice@example.org"
        message.set_content("net worth: 1,234,567.89 EUR")
        delivery = OutboxSession(home / "outbox").send(message)
    finally:
        os.umask(previous)
    warehouse = home / "warehouse.sqlite"
    files = [
        warehouse,
        Path(f"{warehouse}-wal"),
        Path(f"{warehouse}-shm"),
        home / "keys" / "sync_key.pem",
        home / "keys" / "api_secret.key",
        home / "dagster" / "dagster.yaml",
        Path(delivery.detail),
    ]
    for path in files:
        assert mode(path) == 0o600, (path, oct(mode(path)))
    for folder in (home, home / "keys", home / "dagster", home / "outbox"):
        assert mode(folder) == 0o700, (folder, oct(mode(folder)))


# --- Dagster shows no secret -------------------------------------------------------------------------


def serialized_definitions() -> str:
    from dagster._core.remote_representation.external_data import RepositorySnap
    from dagster._serdes import serialize_value

    from wealth_pipeline.definitions import build_definitions

    repository = build_definitions().get_repository_def()
    return serialize_value(RepositorySnap.from_def(repository))


def test_the_stored_definitions_hold_no_password(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("WEALTH_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("WEALTH_DATABASE_URL", "postgresql+psycopg://wealth:pw-6ZqT91@db.local/w")
    monkeypatch.setenv("WEALTH_FX_SOURCE", "frankfurter")
    monkeypatch.setenv("WEALTH_FRANKFURTER_URL", "https://user:url-secret-83@rates.local/v1")
    stored = serialized_definitions()
    assert "pw-6ZqT91" not in stored and "url-secret-83" not in stored
    assert "WEALTH_DATABASE_URL" in stored and "WEALTH_FRANKFURTER_URL" in stored


def test_a_password_given_other_than_by_the_environment_is_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from dataclasses import replace

    from wealth_pipeline.definitions import build_definitions
    from wealth_pipeline.settings import load_settings

    monkeypatch.setenv("WEALTH_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("WEALTH_DATABASE_URL", raising=False)
    settings = replace(load_settings(), database_url="postgresql+psycopg://u:pw-1@db/w")
    with pytest.raises(ValueError, match="must come from WEALTH_DATABASE_URL"):
        build_definitions(settings)


def test_what_the_ui_shows_is_what_the_sync_runs_with(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from wealth_pipeline import settings as settings_module
    from wealth_pipeline.definitions import build_definitions
    from wealth_pipeline.sync import assets as sync_assets

    monkeypatch.setenv("WEALTH_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("WEALTH_SYNC_MAX_WORKERS", "3")
    monkeypatch.setenv("WEALTH_HTTP_TIMEOUT_SECONDS", "7")
    monkeypatch.setenv("WEALTH_FINTS_PRODUCT_ID", "PRODUCT-1")
    definitions = build_definitions()
    sync = definitions.resources["sync"]
    shown = sync.model_dump()
    assert shown["max_workers"] == 3 and shown["http_timeout_seconds"] == 7.0
    assert shown["fints_product_id"] == "PRODUCT-1"
    # The environment changes after the definitions were loaded: the run uses what was shown.
    monkeypatch.setenv("WEALTH_SYNC_MAX_WORKERS", "9")
    monkeypatch.setenv("WEALTH_HTTP_TIMEOUT_SECONDS", "1")
    runs_with = sync.settings()
    assert (runs_with.sync_max_workers, runs_with.http_timeout_seconds) == (3, 7.0)
    assert runs_with.fints_product_id == "PRODUCT-1"

    # Schedules decide with the definitions' settings, never reading them again.
    def no_second_read():
        raise AssertionError("settings read again when the schedule ticked")

    monkeypatch.setattr(sync_assets, "load_settings", no_second_read)
    monkeypatch.setattr(settings_module, "load_settings", no_second_read)
    from wealth_pipeline.fx import assets as fx_assets

    monkeypatch.setattr(fx_assets, "load_settings", no_second_read)
    when = dg.build_schedule_context(
        scheduled_execution_time=datetime(2026, 3, 3, 17, 30, tzinfo=UTC),
        repository_def=definitions.get_repository_def(),
    )
    for name in ("daily_sync", "exchange_rates_daily"):
        schedule = definitions.resolve_schedule_def(name)
        assert schedule.evaluate_tick(when).run_requests
