"""`wealth accounts test` end to end with CliRunner, on SQLite and PostgreSQL.

The demo and manual brokers as shipped, and a test-only bank registered here under its own
code (a catalogue-like row points at it) that scripts logins: credentials decrypted with the
password, app approvals and TANs, a second factor asked midway, typed failures (exit 1,
message without secrets or traceback) and client state persisted encrypted between runs.
"""

from __future__ import annotations

import time
from datetime import date
from decimal import Decimal
from typing import Any, ClassVar

import pytest
from click.testing import Result
from sqlalchemy import insert, select

from tests.support.cli import PASSWORD, account_id_in, run, wealth_ok
from wealth_pipeline import clock
from wealth_pipeline.brokers.base import (
    AccountInfo,
    AuthenticationFailed,
    AuthResult,
    BalanceInfo,
    BrokerIntegrationBase,
    PositionInfo,
    TemporarilyUnavailable,
    TwoFactorRequired,
)
from wealth_pipeline.brokers.registry import register
from wealth_pipeline.security.vault import decrypt_state, unlock
from wealth_pipeline.warehouse.engine import get_engine
from wealth_pipeline.warehouse.schema import account_sessions, brokers

PIN = "pin-31337-geheim"
TAN = "481516"
CODE = "testbank_cli"
SCHEMA = {
    "type": "object",
    "required": ["username", "pin"],
    "properties": {
        "username": {"type": "string", "minLength": 1, "title": "Username"},
        "pin": {"type": "string", "minLength": 1, "format": "password", "title": "PIN"},
    },
    "additionalProperties": False,
}


@register(CODE)
class ScriptedBank(BrokerIntegrationBase):
    """A bank whose answers the test chooses with `script` (one word per behaviour)."""

    secret_fields = ("pin",)
    script: ClassVar[str] = "ok"
    pending_polls: ClassVar[int] = 0  # app approvals still pending before success
    seen: ClassVar[list[tuple[str, Any]]] = []

    def _log(self, what: str, value: Any = None) -> None:
        type(self).seen.append((what, value))

    def authenticate(self) -> AuthResult:
        self._log("authenticate", (dict(self.credentials), self.context.state))
        if self.credentials.get("pin") != PIN:
            raise AuthenticationFailed("the bank refused the PIN")
        if self.script == "refused":  # carelessly quoting the PIN: the CLI scrubs it
            raise AuthenticationFailed(f"PIN {PIN} is blocked (code 3938)")
        if self.script == "refused_result":
            return AuthResult(success=False, error_message="access locked by the bank")
        if self.script == "unavailable":
            raise TemporarilyUnavailable("the bank is in maintenance until 06:00")
        if self.script == "crash":
            raise RuntimeError(f"bug while sending {PIN}")
        if self.script in ("app", "app_never"):
            return AuthResult(success=False, requires_2fa=True, two_fa_type="app",
                              session_data=b"dialog-1",
                              challenge_data={"text": "Please confirm in the app"})  # fmt: skip
        if self.script == "tan":
            raise TwoFactorRequired(
                "the bank asks for a TAN",
                AuthResult(success=False, requires_2fa=True, two_fa_type="tan",
                           session_data=b"dialog-2", challenge_data={"text": "Enter the TAN"}),
            )  # fmt: skip
        return AuthResult(success=True)

    def complete_2fa(self, auth_code: str | None, session_data: bytes | None) -> AuthResult:
        self._log("complete_2fa", (auth_code, session_data))
        if auth_code is None:
            if self.script == "app_never" or type(self).pending_polls > 0:
                type(self).pending_polls -= 1
                return AuthResult(success=False, requires_2fa=True, two_fa_type="app",
                                  session_data=session_data)  # fmt: skip
            return AuthResult(success=True)
        if auth_code == TAN:
            return AuthResult(success=True)
        return AuthResult(success=False, requires_2fa=True, two_fa_type="tan",
                          session_data=session_data, challenge_data={"text": "Wrong TAN, again"})  # fmt: skip

    def get_accounts(self) -> list[AccountInfo]:
        self._log("get_accounts")
        return [AccountInfo("DE02120300000000202051", "Girokonto", "checking", "EUR")]

    def get_balance(self, account_identifier: str) -> BalanceInfo:
        self._log("get_balance", account_identifier)
        if self.script == "balance_tan" and not any(w == "complete_2fa" for w, _ in self.seen):
            raise TwoFactorRequired(
                "the balance needs a TAN",
                AuthResult(success=False, requires_2fa=True, two_fa_type="tan"),
            )
        return BalanceInfo(Decimal("1234.5600"), "EUR", date(2024, 6, 14), Decimal("1200.0000"))

    def get_positions(self, account_identifier: str) -> list[PositionInfo]:
        return [
            PositionInfo("ACME", "Acme Corp", Decimal("3"), Decimal("10.5"), Decimal("31.5000"),
                         "EUR", isin="DE0007164600", asset_class="equity")
        ]  # fmt: skip

    def export_state(self) -> bytes:
        runs = int((self.context.state or b"runs:0").split(b":")[1])
        return f"runs:{runs + 1}".encode()


@pytest.fixture
def env(env: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The shared `env` (alice and bob on each backend), and the scripted bank reset."""
    monkeypatch.setenv("WEALTH_2FA_WAIT_SECONDS", "5")
    monkeypatch.setenv("TEST_WRONG_PASSWORD", "not the password")
    ScriptedBank.script = "ok"
    ScriptedBank.pending_polls = 0
    ScriptedBank.seen = []
    return env


def add_bank_account(url: str) -> int:
    """The test bank as a catalogue-like broker row, and alice's account there."""
    with get_engine(url).begin() as connection:
        if connection.execute(select(brokers.c.id).where(brokers.c.code == CODE)).first() is None:
            connection.execute(
                insert(brokers).values(code=CODE, name="Scripted Bank", integration_type="rest",
                                       api_base_url="http://127.0.0.1:9", supports_2fa=True,
                                       credential_schema=SCHEMA)
            )  # fmt: skip
    result = wealth_ok(
        "accounts", "add", "--user", "alice", "--broker", CODE, "--name", "Giro",
        "--identifier", "DE02120300000000202051", "--password-env", "TEST_WEALTH_PASSWORD",
        input=f"alice.bank\n{PIN}\n",
    )  # fmt: skip
    return account_id_in(result)


def test_account(account_id: int, *extra: str, input: str | None = None) -> Result:
    return run(
        "accounts", "test", str(account_id), "--user", "alice",
        "--password-env", "TEST_WEALTH_PASSWORD", *extra, input=input,
    )  # fmt: skip


test_account.__test__ = False  # a helper, not a test


def stored_state(url: str, account_id: int) -> bytes | None:
    with get_engine(url).connect() as connection:
        blob = connection.execute(
            select(account_sessions.c.encrypted_state).where(
                account_sessions.c.account_id == account_id,
                account_sessions.c.purpose == "client_state",
            )
        ).scalar()
        if blob is None:
            return None
        assert b"runs" not in bytes(blob)  # sealed, not plain
        return decrypt_state(
            unlock(connection, "alice", PASSWORD), account_id, "client_state", bytes(blob)
        )


def assert_clean(result: Result) -> None:
    """No secret and no traceback in what a person sees."""
    for secret in (PIN, TAN, PASSWORD):
        assert secret not in result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


# --- shipped brokers ---------------------------------------------------------------------------


def test_demo_account_needs_no_password(env: str) -> None:
    added = wealth_ok(
        "accounts", "add", "--user", "alice", "--broker", "demo", "--name", "Demo portfolio",
        "--identifier", "DEMO-USD-BROKERAGE", "--type", "brokerage", "--currency", "USD",
    )  # fmt: skip
    account_id = account_id_in(added)
    result = run("accounts", "test", str(account_id), "--user", "alice")  # no password at all
    assert result.exit_code == 0, result.output
    output = result.output
    assert f"Testing account {account_id}: Demo portfolio (Demo broker)" in output
    assert "Login: ok" in output and "Accounts found: 4" in output
    assert "DEMO-EUR-CHECKING" in output and "DEMO-CHF-PILLAR3A" in output
    assert f"Balance on {clock.today().isoformat()}: " in output and " USD (available " in output
    assert "Positions: 4" in output and "ZZDEMOVWRL02" in output and "Demo Acme Robotics" in output
    assert output.rstrip().endswith("The connection works.")
    assert "Password" not in output
    assert stored_state(env, account_id) is None  # the demo keeps no state


def test_manual_account_points_at_the_snapshot_commands(env: str) -> None:
    added = wealth_ok(
        "accounts", "add", "--user", "alice", "--broker", "manual", "--name", "Cash box"
    )
    result = run("accounts", "test", str(account_id_in(added)), "--user", "alice")
    assert result.exit_code == 0, result.output
    assert "Accounts found: 0" in result.output
    assert "No balance:" in result.output and "wealth snapshots add" in result.output
    assert "The connection works." not in result.output


def test_unknown_and_foreign_accounts(env: str) -> None:
    account_id = add_bank_account(env)
    for user in ("bob", "nobody"):
        result = run("accounts", "test", str(account_id), "--user", user)
        assert result.exit_code == 1
        assert ("no such account" if user == "bob" else "no such user") in result.output
    assert run("accounts", "test", "999", "--user", "alice").exit_code == 1


# --- a credentialed bank ----------------------------------------------------------------------


def test_credentials_are_decrypted_and_state_persists_between_runs(env: str) -> None:
    account_id = add_bank_account(env)
    first = test_account(account_id)
    assert first.exit_code == 0, first.output
    assert_clean(first)
    assert "Balance on 2024-06-14: 1234.5600 EUR (available 1200.0000 EUR)" in first.output
    assert "DE0007164600" in first.output and "31.5000" in first.output
    credentials, state = ScriptedBank.seen[0][1]
    assert credentials == {"username": "alice.bank", "pin": PIN} and state is None
    assert ("get_balance", "DE02120300000000202051") in ScriptedBank.seen
    assert stored_state(env, account_id) == b"runs:1"

    ScriptedBank.seen = []
    second = test_account(account_id)
    assert second.exit_code == 0, second.output
    assert ScriptedBank.seen[0][1][1] == b"runs:1"  # the state came back, decrypted
    assert stored_state(env, account_id) == b"runs:2"  # and was replaced, not duplicated


def test_a_wrong_password_changes_nothing(env: str) -> None:
    account_id = add_bank_account(env)
    result = run(
        "accounts", "test", str(account_id), "--user", "alice",
        "--password-env", "TEST_WRONG_PASSWORD",
    )  # fmt: skip
    assert result.exit_code == 1 and "wrong username or password" in result.output
    assert ScriptedBank.seen == [] and stored_state(env, account_id) is None


def test_prompts_for_the_password_without_echo(env: str) -> None:
    account_id = add_bank_account(env)
    result = run("accounts", "test", str(account_id), "--user", "alice", input=f"{PASSWORD}\n")
    assert result.exit_code == 0, result.output
    assert "Password for alice:" in result.output
    assert_clean(result)


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        ("refused", "the login was refused: PIN [redacted] is blocked (code 3938)"),
        ("refused_result", "the login was refused: access locked by the bank"),
        ("unavailable", "unavailable for now (try again later): the bank is in maintenance"),
        ("crash", "integration failed unexpectedly (RuntimeError); this is a bug"),
    ],
)
def test_typed_failures_exit_1_without_secrets(env: str, script: str, expected: str) -> None:
    account_id = add_bank_account(env)
    ScriptedBank.script = script
    result = test_account(account_id)
    assert result.exit_code == 1, result.output
    assert expected in result.output
    assert_clean(result)
    assert "Login: ok" not in result.output
    assert stored_state(env, account_id) == b"runs:1"  # state is kept even after a failure


def test_app_approval_is_waited_for(env: str, monkeypatch: pytest.MonkeyPatch) -> None:
    account_id = add_bank_account(env)
    ScriptedBank.script = "app"
    ScriptedBank.pending_polls = 2
    pauses: list[float] = []
    monkeypatch.setattr(time, "sleep", pauses.append)
    result = test_account(account_id)
    assert result.exit_code == 0, result.output
    assert "Please confirm in the app" in result.output
    assert "Approve the login in your Scripted Bank app (waiting up to 5 seconds)" in result.output
    polls = [value for what, value in ScriptedBank.seen if what == "complete_2fa"]
    assert polls == [(None, b"dialog-1")] * 3
    assert len(pauses) == 2 and all(0 < pause <= 5 for pause in pauses)
    assert "Login: ok" in result.output and "1234.5600 EUR" in result.output


def test_app_approval_gives_up_after_the_configured_wait(
    env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    account_id = add_bank_account(env)
    ScriptedBank.script = "app_never"
    monkeypatch.setenv("WEALTH_2FA_WAIT_SECONDS", "0")
    result = test_account(account_id)
    assert result.exit_code == 1
    assert "not approved in the Scripted Bank app within 0 seconds" in result.output
    assert_clean(result)


def test_a_tan_is_asked_without_echo(env: str) -> None:
    account_id = add_bank_account(env)
    ScriptedBank.script = "tan"
    result = test_account(account_id, input=f"{TAN}\n")
    assert result.exit_code == 0, result.output
    assert "Enter the TAN" in result.output and "TAN:" in result.output
    assert ("complete_2fa", (TAN, b"dialog-2")) in ScriptedBank.seen
    assert_clean(result)  # the TAN itself never echoed


def test_wrong_tans_stop_before_the_bank_locks(env: str) -> None:
    account_id = add_bank_account(env)
    ScriptedBank.script = "tan"
    result = test_account(account_id, input="000000\n111111\n222222\n333333\n")
    assert result.exit_code == 1
    assert "3 codes were not accepted" in result.output
    codes = [value[0] for what, value in ScriptedBank.seen if what == "complete_2fa"]
    assert codes == ["000000", "111111", "222222"]
    assert "Wrong TAN, again" in result.output


def test_a_second_factor_asked_midway(env: str) -> None:
    account_id = add_bank_account(env)
    ScriptedBank.script = "balance_tan"
    result = test_account(account_id, input=f"{TAN}\n")
    assert result.exit_code == 0, result.output
    assert "asks for a second factor: the balance needs a TAN" in result.output
    balances = [what for what, _ in ScriptedBank.seen if what == "get_balance"]
    assert len(balances) == 2 and "1234.5600 EUR" in result.output
    assert_clean(result)


def test_interrupted_tan_prompt_aborts_cleanly(env: str) -> None:
    account_id = add_bank_account(env)
    ScriptedBank.script = "tan"
    result = test_account(account_id, input="")  # end of input at the TAN prompt
    assert result.exit_code == 1
    assert "Aborted" in result.output and "unexpectedly" not in result.output


def test_a_missing_fints_registration_is_a_configuration_problem(
    env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DKB without WEALTH_FINTS_PRODUCT_ID: this machine is not set up, no bank was asked,
    and nothing says the login was refused."""
    monkeypatch.delenv("WEALTH_FINTS_PRODUCT_ID", raising=False)
    added = wealth_ok(
        "accounts", "add", "--user", "alice", "--broker", "dkb", "--name", "DKB Giro",
        "--identifier", "DE02120300000000202051", "--password-env", "TEST_WEALTH_PASSWORD",
        input=f"alice.dkb\n{PIN}\n",
    )  # fmt: skip
    assert "Warning: this machine cannot sync DKB" in added.output
    result = test_account(account_id_in(added))
    assert result.exit_code == 1
    assert "this machine is not set up for it (no service was contacted)" in result.output
    assert "WEALTH_FINTS_PRODUCT_ID" in result.output
    assert "refused" not in result.output and PIN not in result.output
