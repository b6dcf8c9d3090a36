"""Reliability drills: what a self-hoster meets in years of running it.

(a) PostgreSQL "restarts" in the middle of a run: a TCP proxy between the warehouse engine
    and the shared server resets every connection mid-write (the server itself is never
    touched). The run fails with a clear message, no partition is half written, and the next
    run through the same engine succeeds.
(b) The exchange-rate source is down for a day (the fake Frankfurter answers 503): the day's
    rate run fails and writes nothing, the day's snapshots wait unconverted with a reason
    (never at a made-up rate), and once the rates arrive the conversion sensor completes them.
(c) A read-only or locked SQLite warehouse: one clear sentence from the `wealth` command line
    and from an asset run, never a driver traceback.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg
import pytest
from click.testing import CliRunner
from sqlalchemy import select
from sqlalchemy.engine import make_url

from tests.support.automation import Automation, convert_days
from tests.support.data import ECB_SAMPLE
from tests.support.deployment import add_waiting_snapshot, scratch_database
from tests.support.fakes.frankfurter import FakeFrankfurter, Fault
from tests.support.fakes.tcp_proxy import TcpProxy
from wealth_pipeline import money
from wealth_pipeline.cli import main
from wealth_pipeline.fx.assets import exchange_rates
from wealth_pipeline.fx.sources import EcbFileRates, FrankfurterRates
from wealth_pipeline.warehouse import engine as warehouse_engine
from wealth_pipeline.warehouse.engine import WarehouseUnavailable, dispose_engines, get_engine
from wealth_pipeline.warehouse.resource import WarehouseResource
from wealth_pipeline.warehouse.schema import account_snapshots
from wealth_pipeline.warehouse.schema import exchange_rates as rates_table

RANGE_START = "dagster/asset_partition_range_start"
RANGE_END = "dagster/asset_partition_range_end"
BERLIN = ZoneInfo("Europe/Berlin")


def materialize(
    url: str, first: str, last: str, source=None, instance=None
) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [exchange_rates],
        instance=instance,
        resources={
            "fx_source": source or EcbFileRates(location=str(ECB_SAMPLE)),
            "warehouse": WarehouseResource(database_url=url),
        },
        tags={RANGE_START: first, RANGE_END: last},
        raise_on_error=False,
    )


def failure_description(result: dg.ExecuteInProcessResult) -> str:
    [failure] = [e for e in result.all_events if e.is_step_failure]
    data = failure.step_failure_data
    told = data.user_failure_data
    if told is not None and told.description:
        return told.description
    messages, error = [], data.error
    while error is not None:  # the step error, then what caused it
        messages.append(error.message.strip())
        error = error.cause
    return "\n".join(messages)


def stored_rates(url: str) -> list[tuple]:
    t = rates_table
    with get_engine(url).connect() as connection:
        return sorted(connection.execute(select(t.c.rate_date, t.c.quote_currency, t.c.rate)).all())


# --- (a) PostgreSQL restarted during a run ----------------------------------------------------


@pytest.fixture
def proxied_warehouse() -> Iterator[tuple[str, str, TcpProxy]]:
    """(direct URL, URL through the proxy, proxy) of a scratch PostgreSQL warehouse."""
    with scratch_database("wealth_drill") as direct:
        get_engine(direct)  # migrated before any fault
        target = make_url(direct)
        proxy = TcpProxy(target.host or "127.0.0.1", target.port or 5432).start()
        proxied = target.set(host="127.0.0.1", port=proxy.port).render_as_string(
            hide_password=False
        )
        try:
            yield direct, proxied, proxy
        finally:
            proxy.stop()
            dispose_engines()


@pytest.mark.postgres
def test_postgres_restarted_mid_run_leaves_no_partial_partition(
    proxied_warehouse: tuple[str, str, TcpProxy],
) -> None:
    direct, proxied, proxy = proxied_warehouse
    assert materialize(proxied, "2024-01-02", "2024-01-05").success
    before = stored_rates(direct)
    assert {day for day, _, _ in before} == {date(2024, 1, d) for d in (2, 3, 4, 5)}

    # The next run replaces a bigger window; the "server" goes away in the middle of its
    # INSERT (after ~20 kB of the ~200 kB it sends) and is back a moment later.
    proxy.cut_after(20_000)
    failed = materialize(proxied, "2024-01-02", "2024-06-28")
    assert proxy.cuts == 1
    assert not failed.success
    assert failed.get_asset_materialization_events() == []
    message = failure_description(failed)
    assert message.startswith("The connection to the warehouse postgresql+psycopg://")
    assert "was lost" in message and "nothing of it was written" in message
    assert "Traceback" not in message
    assert stored_rates(direct) == before  # the server rolled the half-written window back

    proxy.restore()
    again = materialize(proxied, "2024-01-02", "2024-06-28")
    assert again.success  # the pool dropped the dead connections and opened a new one
    after = stored_rates(direct)
    published = EcbFileRates(location=str(ECB_SAMPLE)).fetch(date(2024, 1, 2), date(2024, 6, 28))
    assert len(after) == sum(len(rates) for rates in published.days.values())
    assert set(before) <= set(after)


@pytest.mark.postgres
def test_postgres_down_when_a_command_starts_is_one_clear_line(
    proxied_warehouse: tuple[str, str, TcpProxy], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _, proxied, proxy = proxied_warehouse
    proxy.cut()  # down before anything connects
    monkeypatch.setenv("WEALTH_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("WEALTH_DATABASE_URL", proxied)
    result = CliRunner().invoke(main, ["db", "current"])
    assert result.exit_code == 1, result.output
    assert result.output.startswith("Error: The warehouse postgresql+psycopg://")
    assert "cannot be reached" in result.output
    assert "Traceback" not in result.output


# --- (b) the exchange-rate source down for a day -----------------------------------------------


def test_rate_source_down_for_a_day_then_automation_completes_the_day(
    warehouse_url: str, frankfurter: FakeFrankfurter
) -> None:
    """The first day of a new installation: the source answers 503 all day long."""
    day = date(2024, 1, 15)
    engine = get_engine(warehouse_url)
    waiting = add_waiting_snapshot(engine, "dora", day, "2500.00", "Brokerage USD")
    source = FrankfurterRates(base_url=frankfurter.url, max_attempts=2, backoff_seconds=0)

    # The evening refresh: the source is down (every attempt 503); nothing is written.
    frankfurter.inject(Fault("status", 503), Fault("status", 503))
    down = materialize(warehouse_url, "2024-01-15", "2024-01-15", source=source)
    assert not down.success
    assert "gave up after 2 attempts" in failure_description(down)
    assert stored_rates(warehouse_url) == []

    def snapshot():
        with engine.connect() as connection:
            return connection.execute(
                select(account_snapshots).where(account_snapshots.c.id == waiting.id)
            ).one()

    row = snapshot()
    assert row.balance_base_currency is None and row.exchange_rate_used is None
    assert "no USD rates are loaded" in row.conversion_note  # the reason, never 1.0

    with dg.instance_for_test() as instance:
        automation = Automation(instance, datetime(2024, 1, 16, 17, tzinfo=BERLIN))
        assert automation.tick() == {}  # nothing to do while the rates are missing

        # The next day the source is back: the refresh brings the day's rates.
        refresh = materialize(warehouse_url, "2024-01-15", "2024-01-15", source, instance)
        assert refresh.success
        requested = automation.tick()  # the days whose as-of window holds the 15th
        assert requested == {"converted_snapshots": ["2024-01-15", "2024-01-16"]}
        assert convert_days(instance, warehouse_url, requested["converted_snapshots"]).success
        assert automation.tick() == {}  # done once

    row = snapshot()
    rate = money.divide(Decimal(1), Decimal("1.0945"), money.RATE_PLACES)  # ECB 2024-01-15
    assert (row.base_currency, row.exchange_rate_used, row.rate_date) == ("EUR", rate, day)
    assert row.balance_base_currency == money.quantize(
        money.to_decimal(Decimal("2500.00")) * rate, money.AMOUNT_PLACES
    )
    assert row.conversion_note is None


# --- (c) a read-only or locked SQLite warehouse ------------------------------------------------


@contextmanager
def read_only(folder: Path) -> Iterator[None]:
    """The warehouse folder and files made unwritable, also for root (immutable attribute)."""
    paths = [folder, *sorted(folder.glob("warehouse.sqlite*"))]
    if os.geteuid() != 0:
        modes = {path: path.stat().st_mode for path in paths}
        for path in paths:
            path.chmod(0o555 if path.is_dir() else 0o444)
        try:
            yield
        finally:
            for path, mode in modes.items():
                path.chmod(mode)
        return
    done = subprocess.run(["chattr", "+i", *map(str, paths)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot make files immutable here: {done.stderr.strip()}")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", *map(str, paths)], check=True)


@pytest.fixture
def sqlite_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Path, str]]:
    """A WEALTH_HOME with a migrated SQLite warehouse in a folder of its own."""
    folder = tmp_path / "home"
    url = f"sqlite:///{folder / 'warehouse.sqlite'}"
    for name in list(os.environ):
        if name.startswith("WEALTH_") and name != "WEALTH_TEST_POSTGRES_URL":
            monkeypatch.delenv(name)
    monkeypatch.setenv("WEALTH_HOME", str(folder))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster"))
    monkeypatch.setenv("WEALTH_ECB_FILE", str(ECB_SAMPLE))
    get_engine(url)
    dispose_engines()  # closed: SQLite folds its -wal file back into the database
    yield folder, url
    dispose_engines()


def test_read_only_warehouse_from_the_command_line(
    sqlite_home: tuple[Path, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    folder, _ = sqlite_home
    monkeypatch.setenv("NEW_PASSWORD", "a-password-for-the-test")
    with read_only(folder):
        for args in (
            ["fx", "backfill", "--start", "2024-01-08", "--end", "2024-01-09"],
            [
                "users",
                "create",
                "ro",
                "--email",
                "ro@example.org",
                "--password-env",
                "NEW_PASSWORD",
            ],
        ):
            result = CliRunner().invoke(main, args)
            assert result.exit_code == 1, (args, result.output)
            [line] = result.output.strip().splitlines()[-1:]
            assert line.startswith(f"Error: The warehouse sqlite:///{folder}"), result.output
            # Read-only file, or a folder SQLite cannot create its -wal/-shm files in.
            assert "is read-only" in line or "cannot be opened" in line, line
            assert "Nothing was written" in line
            assert "Traceback" not in result.output
            assert isinstance(result.exception, SystemExit)  # handled, not raised


def test_read_only_warehouse_in_an_asset_run(sqlite_home: tuple[Path, str]) -> None:
    folder, url = sqlite_home
    with read_only(folder):
        result = materialize(url, "2024-01-08", "2024-01-09")
    assert not result.success
    message = failure_description(result)
    assert message.startswith(f"The warehouse {url} ")
    assert "Nothing was written" in message
    assert stored_rates(url) == []


@contextmanager
def write_locked(path: Path) -> Iterator[None]:
    """Another process's long write transaction (here: another connection holding the lock)."""
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_locked_warehouse_from_the_command_line_and_an_asset_run(
    sqlite_home: tuple[Path, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    folder, url = sqlite_home
    monkeypatch.setattr(warehouse_engine, "SQLITE_BUSY_TIMEOUT_SECONDS", 1)
    with write_locked(folder / "warehouse.sqlite"):
        result = CliRunner().invoke(
            main, ["fx", "backfill", "--start", "2024-01-08", "--end", "2024-01-09"]
        )
        assert result.exit_code == 1, result.output
        assert result.output.strip().splitlines()[-1] == (
            f"Error: The warehouse {url} is locked: another process kept a write transaction "
            "open for more than 1 s. Nothing was written; try again when it has finished."
        )
        run = materialize(url, "2024-01-10", "2024-01-10")
        assert not run.success
        assert "is locked" in failure_description(run)
        with pytest.raises(WarehouseUnavailable, match="is locked"), get_engine(url).begin():
            pass
    assert stored_rates(url) == []
    assert materialize(url, "2024-01-08", "2024-01-10").success  # once the lock is gone
