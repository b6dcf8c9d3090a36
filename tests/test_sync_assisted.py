"""Assisted sync: the daily run never logs in to a broker that needs a person at every fresh
login. It reuses a session still alive (the heartbeat answers 204) and otherwise lists the
account as waiting, with its last data day and the one command that syncs it now; that
command, run by a person in a real `wealth` process, takes the SMS code on the terminal,
writes today and fills the missing days from the service's history.

The broker is `tests/support/assisted.py`'s double (an HTTP service shaped like VIAC, not a
fake of VIAC itself).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from tests.support import factories
from tests.support.assisted import (
    CODE,
    NOTE,
    PHONE,
    SMS_CODE,
    AssistedService,
    add_assisted_broker,
)
from tests.support.assisted import (
    PASSWORD as BANK_PASSWORD,
)
from tests.support.fakes.fints_bank import FakeFinTSBank
from tests.support.sync import (
    PASSWORD,
    SYNC_DAY,
    account_status,
    evening_run,
    make_world,
    session_purposes,
    settings,
    states,
)
from wealth_pipeline.accounts import set_sync
from wealth_pipeline.brokers.base import BrokerConfig, IntegrationContext
from wealth_pipeline.brokers.connection import broker_config, save_session
from wealth_pipeline.brokers.registry import build_integration
from wealth_pipeline.cli import main
from wealth_pipeline.security.vault import encrypt_state, unlock
from wealth_pipeline.settings import load_settings
from wealth_pipeline.sync.notify import notice_text, recipients
from wealth_pipeline.sync.runner import run_sync
from wealth_pipeline.warehouse.schema import account_sessions, account_snapshots

ROOT = Path(__file__).resolve().parents[1]
DKB_PIN = "Pin-dkb-5512x"
BERLIN_TODAY = datetime.now(ZoneInfo("Europe/Berlin")).date()


@pytest.fixture(scope="module")
def service_server() -> Iterator[AssistedService]:
    server = AssistedService(SYNC_DAY).start()
    yield server
    server.stop()


@pytest.fixture
def service(service_server: AssistedService) -> Iterator[AssistedService]:
    service_server.reset()
    service_server.expire()
    service_server.logins = service_server.heartbeats = 0
    service_server.today = SYNC_DAY
    yield service_server


def assisted_world(url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, base_url: str):
    world = make_world(url, tmp_path, monkeypatch, {"fake_ok": 1})
    add_assisted_broker(world.engine, base_url)
    with world.engine.connect() as connection:
        unlocked = unlock(connection, "alice", PASSWORD)
    with world.engine.begin() as connection:
        account_id = factories.account(
            connection, world.owner, CODE, "Pillar 3a", kind="retirement", currency="CHF",
            identifier="3.123.456.789.01", unlocked=unlocked,
            credentials={"username": PHONE, "password": BANK_PASSWORD},
        )  # fmt: skip
    return world, account_id, unlocked


def live_session(service: AssistedService) -> str:
    """A session as a person's sync leaves it (what `export_state` keeps)."""
    sid = "alive-" + os.urandom(4).hex()
    service.sessions.add(sid)
    return sid


def test_a_daily_run_lists_an_assisted_account_as_waiting_without_logging_in(
    warehouse_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, service: AssistedService
) -> None:
    world, account_id, _ = assisted_world(warehouse_url, tmp_path, monkeypatch, service.base_url)
    ok = world.accounts["fake_ok"][0]  # an unattended neighbour syncs as usual
    report = run_sync(world.engine, SYNC_DAY, settings=settings())

    assert service.logins == 0  # no fresh login: no SMS sent at 17:30
    assert report.failed == []
    [waiting] = report.pending_auth
    assert waiting.account_id == account_id
    command = f"wealth accounts auth {account_id} --user alice"
    assert waiting.reason == (
        f"Assisted Bank syncs with you there (assisted): {NOTE}; last data none yet; "
        f"run `{command}`"
    )
    status, message = account_status(world.engine, account_id)
    assert (status, message) == ("pending_auth", waiting.reason)
    assert states(world.engine)[account_id][0] == "pending_auth"
    assert {o.account_id for o in report.synced} == {ok}
    assert BANK_PASSWORD not in message and PHONE not in message

    # `wealth accounts list` says waiting (not error), and the account's sync is assisted.
    listing = CliRunner().invoke(main, ["accounts", "list", "--user", "alice"]).output
    row = next(line.split() for line in listing.splitlines() if line.startswith(str(account_id)))
    assert row[row.index("CHF") + 1 : row.index("CHF") + 3] == ["waiting", "assisted"], listing
    note = CliRunner().invoke(main, ["accounts", "sync", "on", str(account_id), "--user", "alice"])
    assert "syncs with you there (assisted)" in note.output
    assert f"`{command}`" in note.output

    # The approval e-mail says the same: why, the day of the last data, the command.
    [recipient] = recipients(world.engine, report.outcomes)
    subject, body = notice_text(recipient, [SYNC_DAY])
    assert subject == "[Wealth Tracker] 1 account waits for you"
    assert f"why: Assisted Bank syncs with you there (assisted): {NOTE}\n" in body
    assert "last data: none yet" in body and f"sync it now: {command}" in body
    assert "failed" not in body.lower().replace("nothing failed", "")


def test_a_dead_session_gives_a_waiting_account_with_its_last_data_day(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, service: AssistedService
) -> None:
    world, account_id, unlocked = assisted_world(
        sqlite_url, tmp_path, monkeypatch, service.base_url
    )
    earlier = SYNC_DAY - timedelta(days=9)
    with world.engine.begin() as connection:
        from decimal import Decimal

        from wealth_pipeline.snapshots.store import NewSnapshot, write_snapshots

        write_snapshots(connection, account_id, [NewSnapshot(earlier, Decimal("9000"), "CHF")],
                        source="auto")  # fmt: skip
        state = json.dumps({"sid": "long-dead"}).encode()
        save_session(connection, account_id, "client_state",
                     encrypt_state(unlocked, account_id, "client_state", state))  # fmt: skip
    report = run_sync(world.engine, SYNC_DAY, settings=settings())
    [waiting] = report.pending_auth
    assert f"last data {earlier.isoformat()}" in (waiting.reason or "")
    assert service.heartbeats == 0  # the dead session was refused (401), never logged in anew
    assert service.logins == 0 and report.failed == []


def test_a_session_still_alive_is_reused_by_the_daily_run(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, service: AssistedService
) -> None:
    world, account_id, unlocked = assisted_world(
        sqlite_url, tmp_path, monkeypatch, service.base_url
    )
    sid = live_session(service)
    with world.engine.begin() as connection:
        save_session(connection, account_id, "client_state",
                     encrypt_state(unlocked, account_id, "client_state",
                                   json.dumps({"sid": sid}).encode()))  # fmt: skip
    report = run_sync(world.engine, SYNC_DAY, settings=settings())
    assert [o.status for o in report.outcomes] == ["success", "success"]
    assert service.heartbeats == 1 and service.logins == 0
    with world.engine.connect() as connection:
        balance = connection.execute(
            select(account_snapshots.c.balance).where(
                account_snapshots.c.account_id == account_id,
                account_snapshots.c.snapshot_date == SYNC_DAY,
            )
        ).scalar_one()
    assert balance == service.value(SYNC_DAY).quantize(balance)
    assert account_status(world.engine, account_id)[0] == "active"
    assert "client_state" in session_purposes(world.engine, account_id)


def test_the_base_url_setting_points_an_integration_elsewhere(
    monkeypatch: pytest.MonkeyPatch, service: AssistedService
) -> None:
    monkeypatch.setenv("WEALTH_BROKER_URL_FAKE_ASSISTED", service.base_url + "/")
    monkeypatch.setenv("WEALTH_BROKER_URL_DKB", "http://127.0.0.1:9/fints")
    urls = load_settings().broker_urls
    assert urls == {"fake_assisted": service.base_url, "dkb": "http://127.0.0.1:9/fints"}
    row = {"code": CODE, "name": "Assisted Bank", "integration_type": "rest",
           "api_base_url": "https://nowhere.invalid"}  # fmt: skip
    config = broker_config(row, urls)
    assert config.api_base_url == service.base_url
    assert broker_config({**row, "code": "dkb", "integration_type": "fints"}, urls) == BrokerConfig(
        code="dkb", name="Assisted Bank", integration_type="fints",
        fints_server="http://127.0.0.1:9/fints", api_base_url="https://nowhere.invalid",
    )  # fmt: skip
    integration = build_integration(
        config, {"username": PHONE, "password": BANK_PASSWORD}, IntegrationContext()
    )
    with integration:
        assert integration.authenticate().two_fa_type == "sms"
    assert service.logins == 1  # it reached the local service, not the catalogue's URL
    for bad in ("ftp://127.0.0.1/x", "not a url"):
        monkeypatch.setenv("WEALTH_BROKER_URL_VIAC", bad)
        with pytest.raises(ValueError, match="WEALTH_BROKER_URL_VIAC must be an http"):
            load_settings()


def wealth(*args: str, env: dict[str, str], input: str) -> subprocess.CompletedProcess[str]:
    """The `wealth` command line in a process of its own (the test double registered)."""
    code = "import tests.support.assisted; from wealth_pipeline.cli import main; main()"
    return subprocess.run(
        [sys.executable, "-c", code, *args], input=input, capture_output=True, text=True,
        env=env, cwd=ROOT, timeout=120, start_new_session=True,  # no terminal: codes from stdin
    )  # fmt: skip


def test_syncing_now_takes_the_sms_code_writes_today_and_fills_the_missing_days(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, service: AssistedService
) -> None:
    service.today = BERLIN_TODAY  # the command syncs the real today
    world, account_id, _ = assisted_world(sqlite_url, tmp_path, monkeypatch, "http://127.0.0.1:9")
    with world.engine.begin() as connection:
        set_sync(connection, world.owner.id, account_id, True)
    run_sync(world.engine, BERLIN_TODAY, settings=settings())  # waits: no session
    assert account_status(world.engine, account_id)[0] == "pending_auth"

    env = {**os.environ, "TEST_WEALTH_PASSWORD": PASSWORD,
           "WEALTH_BROKER_URL_FAKE_ASSISTED": service.base_url}  # fmt: skip
    args = ("accounts", "auth", str(account_id), "--user", "alice", "--days", "30",
            "--password-env", "TEST_WEALTH_PASSWORD")  # fmt: skip
    done = wealth(*args, env=env, input=f"{SMS_CODE}\n")
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "Enter the code sent to" in output and "Login: ok" in output
    assert f"Wrote {BERLIN_TODAY.isoformat()} for account {account_id}" in output
    assert "29 missing day(s) filled" in output, done.stdout
    for secret in (SMS_CODE, BANK_PASSWORD, PASSWORD):
        assert secret not in output
    with world.engine.connect() as connection:
        days = (
            connection.execute(
                select(account_snapshots.c.snapshot_date)
                .where(account_snapshots.c.account_id == account_id)
                .order_by(account_snapshots.c.snapshot_date)
            )
            .scalars()
            .all()
        )
    assert days == [BERLIN_TODAY - timedelta(days=n) for n in range(29, -1, -1)]
    assert account_status(world.engine, account_id) == ("active", None)
    assert service.logins == 1  # one login, one SMS

    # The session it left is alive: the next daily run reuses it (no SMS, no waiting).
    tomorrow = BERLIN_TODAY + timedelta(days=1)
    monkeypatch.setenv("WEALTH_BROKER_URL_FAKE_ASSISTED", service.base_url)
    report = run_sync(world.engine, tomorrow, settings=load_settings(), now=evening_run(tomorrow))
    assert [o.status for o in report.outcomes if o.account_id == account_id] == ["success"]
    assert service.logins == 1 and service.heartbeats == 1


# --- DKB: the TAN medium chosen once, through the daily run and the command line ------------


@pytest.fixture(scope="module")
def fints_bank() -> Iterator[FakeFinTSBank]:
    server = FakeFinTSBank("12030000", "alice.dkb", DKB_PIN).start()
    yield server
    server.stop()


def test_a_dkb_login_needing_a_tan_medium_waits_then_the_person_chooses_once(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fints_bank: FakeFinTSBank
) -> None:
    fints_bank.reset()
    fints_bank.configure(media=("iPhone Anna", "iPad Küche"), approve_after_polls=0)
    monkeypatch.setenv("WEALTH_BROKER_URL_DKB", fints_bank.base_url + "/fints")
    monkeypatch.setenv("WEALTH_FINTS_PRODUCT_ID", "9FA6681DEC0CF3046BFC2F8A6")
    world = make_world(sqlite_url, tmp_path, monkeypatch, {})
    monkeypatch.setenv("WEALTH_2FA_WAIT_SECONDS", "2")
    with world.engine.connect() as connection:
        unlocked = unlock(connection, "alice", PASSWORD)
    with world.engine.begin() as connection:
        account_id = factories.account(
            connection, world.owner, "dkb", "Giro", identifier="DE02120300000000202051",
            credentials={"username": "alice.dkb", "pin": DKB_PIN}, unlocked=unlocked,
        )  # fmt: skip
    report = run_sync(world.engine, SYNC_DAY, settings=load_settings())
    [waiting] = report.pending_auth
    assert report.failed == []
    assert "which of your TAN media" in (waiting.reason or "")
    assert "TAN rejected" not in (waiting.reason or "") and "wrong" not in (waiting.reason or "")
    with world.engine.connect() as connection:
        challenge = connection.execute(
            select(account_sessions.c.challenge).where(
                account_sessions.c.account_id == account_id,
                account_sessions.c.purpose == "tan_dialog",
            )
        ).scalar_one()
    assert challenge["two_fa_type"] == "tan_medium"
    assert challenge["options"] == ["iPhone Anna", "iPad Küche"]

    monkeypatch.setenv("TEST_WEALTH_PASSWORD", PASSWORD)
    result = CliRunner().invoke(
        main,
        ["accounts", "auth", str(account_id), "--user", "alice", "--password-env",
         "TEST_WEALTH_PASSWORD"],
        input="2\n",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "1. iPhone Anna" in result.output and "2. iPad Küche" in result.output
    assert f"Wrote {BERLIN_TODAY.isoformat()} for account {account_id}" in result.output
    assert DKB_PIN not in result.output
    assert fints_bank.media_named[-1] == "iPad Küche"
    assert account_status(world.engine, account_id) == ("active", None)
    assert "tan_dialog" not in session_purposes(world.engine, account_id)

    # Asked once: the next run names the chosen medium itself, and the exemption holds.
    tomorrow = BERLIN_TODAY + timedelta(days=1)
    again = run_sync(world.engine, tomorrow, settings=load_settings(), now=evening_run(tomorrow))
    assert [o.status for o in again.outcomes] == ["success"], again.outcomes
    assert fints_bank.media_named[-1] == "iPad Küche"
    assert fints_bank.types().count("HKTAB") == 1
