"""The daily sync of many accounts: outcomes per account, limits per broker, idempotent
re-runs, retries that skip what is done, transactional account-days, manual snapshots kept,
the demo broker, no credential in the warehouse; on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select, text, update

from tests.support import factories
from tests.support.sync import (
    PIN,
    SYNC_DAY,
    Calls,
    FakeBroker,
    account_status,
    broker_account,
    make_world,
    position_rows,
    session_purposes,
    settings,
    snapshot_rows,
    states,
)
from wealth_pipeline.accounts import Owner
from wealth_pipeline.security.vault import unlock
from wealth_pipeline.snapshots.store import NewSnapshot, write_snapshot
from wealth_pipeline.sync import account as account_module
from wealth_pipeline.sync.due import AUTH_FAILED, due_accounts, due_by_frequency
from wealth_pipeline.sync.runner import interleave_by_broker, run_sync
from wealth_pipeline.warehouse.schema import (
    account_snapshots,
    financial_accounts,
    metadata,
    portfolio_positions,
    profiles,
)

MIXED = {"fake_ok": 3, "fake_fail": 1, "fake_2fa": 1, "fake_slow": 5}


def test_due_by_frequency() -> None:
    now = datetime(2024, 1, 15, 16, 30, tzinfo=UTC)
    assert due_by_frequency(None, 24, now)
    assert due_by_frequency(now - timedelta(hours=23, minutes=59), 24, now)  # schedule jitter
    assert not due_by_frequency(now - timedelta(hours=20), 24, now)
    assert due_by_frequency((now - timedelta(hours=25)).replace(tzinfo=None), 24, now)
    assert not due_by_frequency(now - timedelta(days=3), 168, now)


def test_interleave_by_broker() -> None:
    from wealth_pipeline.sync.due import DueAccount

    due = [DueAccount(i, 1, "a", code, "", False) for i, code in enumerate("aaabbc")]
    assert [d.broker_code for d in interleave_by_broker(due)] == list("abcaba")


def test_mixed_run(warehouse_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    world = make_world(warehouse_url, tmp_path, monkeypatch, MIXED)
    report = run_sync(world.engine, SYNC_DAY, settings=settings(), max_workers=6, max_per_broker=2)
    ids = world.accounts
    assert {o.account_id for o in report.synced} == set(ids["fake_ok"] + ids["fake_slow"])
    [failed] = report.failed
    assert failed.account_id == ids["fake_fail"][0] and "maintenance" in (failed.reason or "")
    [paused] = report.pending_auth
    assert paused.account_id == ids["fake_2fa"][0]
    assert f"wealth accounts auth {paused.account_id} --user alice" in (paused.reason or "")
    assert Calls.peak["fake_slow"] == 2  # the per-broker limit, reached and respected
    assert max(Calls.peak.values()) <= 2 and Calls.overall_peak <= 6
    assert report.rows == 8 * 3  # snapshot + 2 positions per synced account

    found = states(world.engine)
    assert found[failed.account_id][0] == "error"
    assert found[paused.account_id][0] == "pending_auth"
    assert account_status(world.engine, paused.account_id)[0] == "pending_auth"
    assert account_status(world.engine, failed.account_id) == ("error", failed.reason)
    assert "tan_dialog" in session_purposes(world.engine, paused.account_id)
    assert "client_state" in session_purposes(world.engine, ids["fake_ok"][0])

    # converted at the ECB's USD/CHF cross of 2024-01-15, positions too
    with world.engine.connect() as connection:
        snap = connection.execute(
            select(account_snapshots).where(account_snapshots.c.account_id == ids["fake_ok"][0])
        ).one()
        assert snap.snapshot_date == SYNC_DAY and snap.snapshot_source == "auto"
        assert snap.balance == Decimal("1015.0000") and snap.base_currency == "CHF"
        assert snap.balance_base_currency is not None and snap.rate_date == SYNC_DAY
        positions = connection.execute(
            select(portfolio_positions).where(portfolio_positions.c.snapshot_id == snap.id)
        ).all()
        values = sorted(p.market_value_base_currency for p in positions)
        assert sum(p.market_value for p in positions) == snap.balance
        assert all(p.exchange_rate_used == snap.exchange_rate_used for p in positions)
        assert abs(sum(values) - snap.balance_base_currency) <= Decimal("0.0001")
        acme = next(p for p in positions if p.symbol == "ACME")
        assert acme.price_base_currency == (Decimal("60.5") * snap.exchange_rate_used).quantize(
            Decimal("1E-10")
        )


def test_rerun_leaves_identical_rows(
    warehouse_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = make_world(warehouse_url, tmp_path, monkeypatch, {"fake_ok": 2, "demo": 0})
    run_sync(world.engine, SYNC_DAY, settings=settings())
    before = snapshot_rows(world.engine), position_rows(world.engine)
    # a re-run of the same day: nothing is due any more
    again = run_sync(world.engine, SYNC_DAY, settings=settings())
    assert again.outcomes == []
    # forced: the sync state cleared, the day's AUTO snapshots replaced by identical ones
    with world.engine.begin() as connection:
        connection.execute(text("DELETE FROM account_sync_state"))
    forced = run_sync(world.engine, SYNC_DAY, settings=settings())
    assert len(forced.synced) == 2
    assert (snapshot_rows(world.engine), position_rows(world.engine)) == before


def test_retry_skips_done_and_auth_failed(
    warehouse_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = make_world(warehouse_url, tmp_path, monkeypatch, {"fake_ok": 2, "fake_fail": 1})
    with world.engine.connect() as connection:
        unlocked = unlock(connection, "alice", "correct horse battery staple")
    wrong = broker_account(
        world.engine, world.owner, unlocked, "fake_ok", "wrongpin", pin="bad-pin-777"
    )
    first = run_sync(world.engine, SYNC_DAY, settings=settings())
    assert {o.account_id: o.status for o in first.outcomes}[wrong] == "error"
    reason = states(world.engine)[wrong][1] or ""
    assert reason.startswith(AUTH_FAILED) and "bad-pin-777" not in reason  # scrubbed
    Calls.reset()
    retry = run_sync(world.engine, SYNC_DAY, settings=settings())
    # only the temporarily unavailable account is tried again
    assert [o.account_id for o in retry.outcomes] == world.accounts["fake_fail"]
    assert states(world.engine)[world.accounts["fake_fail"][0]][2] == 2  # attempts
    assert Calls.total["fake_ok"] == 0


def test_failure_mid_write_leaves_nothing(
    warehouse_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = make_world(warehouse_url, tmp_path, monkeypatch, {"fake_ok": 2})
    real = account_module.record_account_status
    [broken, fine] = world.accounts["fake_ok"]

    def record_then_fail(connection, account_id, status, reason):
        real(connection, account_id, status, reason)
        if account_id == broken and status == "success":
            raise RuntimeError("killed mid-write")

    monkeypatch.setattr(account_module, "record_account_status", record_then_fail)
    report = run_sync(world.engine, SYNC_DAY, settings=settings())
    outcomes = {o.account_id: o for o in report.outcomes}
    assert outcomes[broken].status == "error" and outcomes[fine].status == "success"
    assert {row[0] for row in snapshot_rows(world.engine)} == {fine}
    assert {row[0] for row in position_rows(world.engine)} == {fine}
    # the bank session happened: its state is kept with the error, the day is not
    assert "client_state" in session_purposes(world.engine, broken)
    assert states(world.engine)[broken][0] == "error"
    # the retry lands it
    monkeypatch.setattr(account_module, "record_account_status", real)
    assert [o.status for o in run_sync(world.engine, SYNC_DAY, settings=settings()).outcomes] == [
        "success"
    ]


def test_manual_snapshot_never_overwritten(
    warehouse_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = make_world(warehouse_url, tmp_path, monkeypatch, {"fake_ok": 1})
    [account_id] = world.accounts["fake_ok"]
    with world.engine.begin() as connection:
        write_snapshot(
            connection, account_id, NewSnapshot(SYNC_DAY, Decimal("5.0000"), "USD"), source="manual"
        )
    before = snapshot_rows(world.engine)
    report = run_sync(world.engine, SYNC_DAY, settings=settings())
    [skipped] = report.skipped
    assert "manual snapshot" in (skipped.reason or "")
    assert Calls.total["fake_ok"] == 0  # the bank was not even asked
    assert snapshot_rows(world.engine) == before
    assert states(world.engine)[account_id][0] == "skipped"


@pytest.mark.parametrize("day", [date(2024, 3, 31), date(2024, 3, 30), date(2024, 10, 27)])
def test_dst_days_land_on_their_date(
    day: date, warehouse_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = make_world(warehouse_url, tmp_path, monkeypatch, {"fake_ok": 1})
    run_sync(world.engine, day, settings=settings())
    [row] = snapshot_rows(world.engine)
    assert row[1] == day


def test_due_rules(warehouse_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    world = make_world(warehouse_url, tmp_path, monkeypatch, {"fake_ok": 4, "manual": 1})
    a, b, c, d = world.accounts["fake_ok"]
    now = datetime(2024, 1, 15, 16, 30, tzinfo=UTC)
    with world.engine.begin() as connection:
        ids = [x.account_id for x in due_accounts(connection, SYNC_DAY, now)]
        assert ids == [a, b, c, d]  # the manual account never
        connection.execute(
            update(financial_accounts)
            .where(financial_accounts.c.id == a)
            .values(sync_enabled=False)
        )
        connection.execute(
            update(financial_accounts)
            .where(financial_accounts.c.id == b)
            .values(status="pending_auth")
        )
        connection.execute(update(financial_accounts).where(financial_accounts.c.id == c).values(status="error",
                           last_synced_at=now - timedelta(hours=2)))  # fmt: skip
        ids = [x.account_id for x in due_accounts(connection, SYNC_DAY, now)]
        assert ids == [d]  # c synced 2 hours ago: not due today at 24 h
        assert [
            x.account_id for x in due_accounts(connection, SYNC_DAY - timedelta(days=1), now)
        ] == [c, d]
        connection.execute(update(profiles).values(auto_sync_enabled=False))
        assert due_accounts(connection, SYNC_DAY, now) == []


def test_demo_accounts_sync_without_credentials(
    warehouse_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = make_world(warehouse_url, tmp_path, monkeypatch, {})
    owner = Owner(world.owner.id, "alice", "CHF")
    for identifier in ("DEMO-EUR-CHECKING", "DEMO-USD-BROKERAGE"):
        with world.engine.begin() as connection:
            factories.account(connection, owner, "demo", identifier, kind="brokerage",
                              identifier=identifier)  # fmt: skip
    report = run_sync(world.engine, SYNC_DAY, settings=settings())
    assert [o.status for o in report.outcomes] == ["success", "success"]
    assert report.rows > 2  # brokerage positions too
    assert all(row[1] == SYNC_DAY for row in snapshot_rows(world.engine))


def test_no_credential_in_warehouse_dump(
    warehouse_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = make_world(warehouse_url, tmp_path, monkeypatch, dict(MIXED, demo=0))
    with world.engine.connect() as connection:
        unlocked = unlock(connection, "alice", "correct horse battery staple")
    broker_account(world.engine, world.owner, unlocked, "fake_ok", "wrongpin", pin="bad-pin-777")
    FakeBroker.fail_positions = False
    run_sync(world.engine, SYNC_DAY, settings=settings())
    dump = []
    with world.engine.connect() as connection:
        for table in metadata.sorted_tables:
            for row in connection.execute(select(table)):
                dump.append(repr(tuple(row)))
    everything = "\n".join(dump)
    for secret in (PIN, "bad-pin-777", "correct horse battery staple", "runs:1", "dialog-42"):
        assert secret not in everything


def test_position_row_converts_or_leaves_null() -> None:
    from wealth_pipeline.fx.lookup import FxRate, NoRate
    from wealth_pipeline.snapshots.store import NewPosition, position_row

    position = NewPosition("ACME", "Acme", Decimal("3"), Decimal("10.5"), Decimal("31.5000"), "USD")
    rate = FxRate("USD", "CHF", SYNC_DAY, Decimal("0.861234567891"), SYNC_DAY)
    row = position_row(7, position, rate)
    assert row["market_value_base_currency"] == Decimal("27.1289")  # 27.12888888..., half-even
    assert row["price_base_currency"] == Decimal("9.0429629629")  # 9.04296296285...
    assert row["exchange_rate_used"] == rate.rate and row["quantity"] == Decimal("3.00000000")
    missing = position_row(7, position, NoRate("USD", "XXX", SYNC_DAY, "unknown currency"))
    assert missing["market_value_base_currency"] is None and missing["price_base_currency"] is None


KILLED_WORKER = """
import sys, time
from pathlib import Path

import tests.support.sync  # registers the fake brokers
from wealth_pipeline.settings import load_settings
from wealth_pipeline.sync import account
from wealth_pipeline.sync.runner import run_sync
from wealth_pipeline.warehouse.engine import get_engine

marker = Path(sys.argv[1])
write_snapshots = account.write_snapshots


def stall(*args, **kwargs):
    written = write_snapshots(*args, **kwargs)  # snapshot and positions, not committed yet
    marker.write_text("mid-write")
    time.sleep(120)  # killed here
    return written


account.write_snapshots = stall
settings = load_settings()
run_sync(get_engine(settings.database_url), tests.support.sync.SYNC_DAY, settings=settings,
         max_workers=1)
"""


def test_process_killed_mid_write_leaves_no_half_written_account_day(
    warehouse_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SIGKILL (no clean-up, no exception handler) while the account-day's rows are written:
    the day is all or nothing, and the next run lands it."""
    import os
    import signal
    import subprocess
    import sys
    import time

    world = make_world(warehouse_url, tmp_path, monkeypatch, {"fake_ok": 2})
    marker = tmp_path / "mid-write"
    worker = subprocess.Popen(
        [sys.executable, "-c", KILLED_WORKER, str(marker)],
        cwd=Path(__file__).resolve().parent.parent,
        env=dict(os.environ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 90
        while not marker.exists():
            assert worker.poll() is None, worker.stderr.read().decode() if worker.stderr else ""
            assert time.monotonic() < deadline, "the worker never reached the write"
            time.sleep(0.05)
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=30)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    assert worker.returncode == -signal.SIGKILL
    assert snapshot_rows(world.engine) == []
    assert position_rows(world.engine) == []
    assert states(world.engine) == {}
    report = run_sync(world.engine, SYNC_DAY, settings=settings())
    assert [o.status for o in report.outcomes] == ["success", "success"]
    assert len(snapshot_rows(world.engine)) == 2 and len(position_rows(world.engine)) == 4
