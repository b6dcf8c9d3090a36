"""VIAC, assisted, end to end against the VIAC fake (`tests/support/fakes/viac.py`, built from the
public evidence): the daily run lists the account as waiting and sends no SMS; `wealth
accounts auth` in a real process takes the SMS code VIAC sent, writes today and fills the
missing days from VIAC's daily history; the next daily run reuses the session while VIAC's
heartbeat answers 204, and waits again (never failed) once the session is dead.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from tests.support import factories
from tests.support.fakes.viac import BIG, HISTORY_START, TODAY, FakeViac
from tests.support.sync import PASSWORD, account_status, evening_run, make_world
from wealth_pipeline.security.vault import unlock
from wealth_pipeline.settings import load_settings
from wealth_pipeline.sync.runner import run_sync
from wealth_pipeline.warehouse.schema import account_snapshots

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[1]
PHONE = "+41791234567"
VIAC_PASSWORD = "viac-e2e-Pass!7"
BERLIN_TODAY = datetime.now(ZoneInfo("Europe/Berlin")).date()
# Far enough back to reach the fake's history (it ends on its own TODAY, 2024-06-14).
DAYS = (BERLIN_TODAY - HISTORY_START).days + 1


@pytest.fixture(scope="module")
def viac_server() -> Iterator[FakeViac]:
    server = FakeViac(PHONE, VIAC_PASSWORD).start()
    yield server
    server.stop()


@pytest.fixture
def viac(viac_server: FakeViac) -> Iterator[FakeViac]:
    viac_server.reset()
    yield viac_server


def evening(day: date) -> datetime:
    return datetime.combine(day, datetime.min.time(), ZoneInfo("Europe/Berlin")) + timedelta(
        hours=17, minutes=30
    )


def test_viac_waits_then_a_person_syncs_it_with_the_sms_code_and_the_session_is_reused(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, viac: FakeViac
) -> None:
    monkeypatch.setenv("WEALTH_BROKER_URL_VIAC", viac.base_url)
    world = make_world(sqlite_url, tmp_path, monkeypatch, {})
    with world.engine.connect() as connection:
        unlocked = unlock(connection, "alice", PASSWORD)
    with world.engine.begin() as connection:
        account_id = factories.account(
            connection, world.owner, "viac", "Säule 3a", kind="retirement", currency="CHF",
            identifier=BIG, credentials={"username": PHONE, "password": VIAC_PASSWORD},
            unlocked=unlocked,
        )  # fmt: skip

    # 17:30: waiting, not failed, and no SMS sent to the person.
    report = run_sync(world.engine, BERLIN_TODAY, settings=load_settings())
    [waiting] = report.pending_auth
    assert report.failed == [] and viac.sms_codes == []
    command = f"wealth accounts auth {account_id} --user alice"
    assert "VIAC syncs with you there (assisted)" in (waiting.reason or "")
    assert (waiting.reason or "").endswith(f"; last data none yet; run `{command}`")
    assert account_status(world.engine, account_id)[0] == "pending_auth"

    # The person runs the command in a real process and types the code VIAC sent.
    env = {**os.environ, "TEST_WEALTH_PASSWORD": PASSWORD}
    process = subprocess.Popen(
        [sys.executable, "-c", "from wealth_pipeline.cli import main; main()",
         *command.split()[1:], "--days", str(DAYS),
         "--password-env", "TEST_WEALTH_PASSWORD"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=env, cwd=ROOT, start_new_session=True,  # no terminal: the code comes on stdin
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while not viac.sms_codes and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.05)
    assert viac.sms_codes, process.communicate(timeout=30)
    out, err = process.communicate(f"{viac.sms_codes[-1]}\n", timeout=120)
    assert process.returncode == 0, out + err
    assert "Login: ok" in out
    assert f"Wrote {BERLIN_TODAY.isoformat()} for account {account_id}" in out
    history_days = (TODAY - HISTORY_START).days + 1
    assert f"{history_days} missing day(s) filled" in out
    for secret in (viac.sms_codes[-1], VIAC_PASSWORD, PASSWORD):
        assert secret not in out + err
    with world.engine.connect() as connection:
        days = (
            connection.execute(
                select(account_snapshots.c.snapshot_date).where(
                    account_snapshots.c.account_id == account_id
                )
            )
            .scalars()
            .all()
        )
    assert min(days) == HISTORY_START and BERLIN_TODAY in days
    assert len(days) == history_days + 1  # every day VIAC delivers, and today
    assert account_status(world.engine, account_id) == ("active", None)

    # Tomorrow's run: the session is alive (heartbeat 204), reused, no SMS.
    tomorrow = BERLIN_TODAY + timedelta(days=1)
    again = run_sync(world.engine, tomorrow, settings=load_settings(), now=evening_run(tomorrow))
    assert [o.status for o in again.outcomes] == ["success"], again.outcomes
    assert len(viac.sms_codes) == 1
    assert "/rest/web/heartbeat" in viac.paths()

    # The day after, VIAC has ended the session: waiting again, never a failed login.
    viac.expire_sessions()
    later = tomorrow + timedelta(days=1)
    third = run_sync(world.engine, later, settings=load_settings(), now=evening(later))
    [waits] = third.pending_auth
    assert third.failed == [] and len(viac.sms_codes) == 1
    assert f"last data {tomorrow.isoformat()}" in (waits.reason or "")


# --- Morgan Stanley: a token that lives 15 minutes, pasted by the person who syncs -----------


def test_morgan_stanley_waits_with_an_expired_token_then_a_pasted_one_syncs_it(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.support.fakes.morganstanley import EMPLOYEE_PK, FakeMorganStanley

    with FakeMorganStanley() as ms:
        monkeypatch.setenv("WEALTH_BROKER_URL_MORGANSTANLEY", ms.base_url)
        world = make_world(sqlite_url, tmp_path, monkeypatch, {})
        with world.engine.connect() as connection:
            unlocked = unlock(connection, "alice", PASSWORD)
        stale = ms.make_jwt(expires_in=-60)
        with world.engine.begin() as connection:
            account_id = factories.account(
                connection, world.owner, "morganstanley", "Stock plan", kind="brokerage",
                currency="USD", identifier=EMPLOYEE_PK, unlocked=unlocked,
                credentials={"jwt": stale, "employee_id": EMPLOYEE_PK},
            )  # fmt: skip
        report = run_sync(world.engine, BERLIN_TODAY, settings=load_settings())
        [waiting] = report.pending_auth
        assert report.failed == [] and "(assisted)" in (waiting.reason or "")
        assert not [r for r in ms.requests if r.path.endswith("graphql")]  # nothing sent

        fresh = ms.make_jwt()
        done = subprocess.run(
            [sys.executable, "-c", "from wealth_pipeline.cli import main; main()",
             "accounts", "auth", str(account_id), "--user", "alice",
             "--password-env", "TEST_WEALTH_PASSWORD"],
            input=f"{fresh}\n", capture_output=True, text=True, timeout=120, cwd=ROOT,
            env={**os.environ, "TEST_WEALTH_PASSWORD": PASSWORD}, start_new_session=True,
        )  # fmt: skip
        output = done.stdout + done.stderr
        assert done.returncode == 0, output
        assert "needs a fresh Session token (JWT)" in output
        assert f"Wrote {BERLIN_TODAY.isoformat()} for account {account_id}" in output
        assert fresh not in output and stale not in output
        assert account_status(world.engine, account_id) == ("active", None)
