"""DKB and Commerzbank over FinTS 3.0 (python-fints) against a local FinTS bank.

The fake (`tests/support/fakes/fints_bank.py`) parses python-fints' own messages and answers with
messages built from its segment classes: SCA by app approval, TAN, photoTAN and flicker
challenges, a system ID that earns an exemption, wrong/blocked PINs, locked access, and the
HTTP faults of every fake. PINs are never sent twice and never reach a message or raw data.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import subprocess
import sys
import time
import zlib
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace

import pytest
from fints.exceptions import (
    FinTSClientError,
    FinTSConnectionError,
    FinTSDialogInitError,
    FinTSNoResponseError,
    FinTSSCARequiredError,
    FinTSUnsupportedOperation,
)

from tests.support.fakes.fints_bank import MT535, PNG, FakeFinTSBank
from tests.support.fakes.server import Fault
from wealth_pipeline import http
from wealth_pipeline.brokers import base
from wealth_pipeline.brokers.base import (
    AuthenticationFailed,
    BrokerConfig,
    ConfigurationProblem,
    IntegrationContext,
    MalformedAnswer,
    TemporarilyUnavailable,
    TwoFactorRequired,
)
from wealth_pipeline.brokers.catalogue import read_fixture
from wealth_pipeline.brokers.fints import (
    CHOOSE_MEDIUM,
    FinTSIntegration,
    FinTSRejected,
    TanMediumUnknown,
    account_type,
    bank_error,
    choose_tan_mechanism,
    parse_mt535,
    position,
    unpack_session,
)
from wealth_pipeline.brokers.registry import build_integration, integration_class

ROOT = Path(__file__).resolve().parents[1]
BLZ = "12030000"
USERNAME = "anna.muster"
PIN = "Pin-7f3k9Q"
CREDENTIALS = {"username": USERNAME, "pin": PIN}
PRODUCT = "9FA6681DEC0CF3046BFC2F8A6"
CONTEXT = IntegrationContext(
    # Generous: the fake bank parses and builds real FinTS messages, slow on a busy CI core.
    timeout_seconds=10,
    retry=http.Retry(max_attempts=3, backoff_seconds=0.01),
    poll_interval_seconds=0.01,
    two_fa_wait_seconds=2.0,  # approvals the fake grants come within a few polls
    fints_product_id=PRODUCT,
    today=date(2024, 6, 14),
)
GIRO, SAVINGS, DEPOT = "DE02120300000000202051", "DE44120300000009876543", "5555555555"


@pytest.fixture(scope="session")
def bank_server() -> Iterator[FakeFinTSBank]:
    server = FakeFinTSBank(BLZ, USERNAME, PIN).start()
    yield server
    server.stop()


@pytest.fixture
def bank(bank_server: FakeFinTSBank) -> Iterator[FakeFinTSBank]:
    bank_server.reset()
    yield bank_server
    bank_server.reset()


def integration(
    bank: FakeFinTSBank, code: str = "dkb", credentials: dict | None = None, **context: object
) -> FinTSIntegration:
    entry = next(e for e in read_fixture() if e["code"] == code)
    broker = BrokerConfig.from_row({**entry, "fints_server": bank.base_url + "/fints"})
    built = build_integration(
        broker, credentials or CREDENTIALS, dataclasses.replace(CONTEXT, **context)
    )
    assert isinstance(built, FinTSIntegration)
    return built


def session_plaintext(session: bytes) -> bytes:
    """Everything inside session data, decompressed (to look for the PIN in it)."""
    saved = unpack_session(session)
    parts = [session]
    for key in ("client", "dialog", "pending"):
        blob = saved[key]
        parts.append(blob)
        payload = json.loads(zlib.decompress(blob.split(b";", 3)[3]))
        parts.append(json.dumps(payload).encode())
        for value in payload.values():
            if isinstance(value, str) and key == "dialog":
                parts.append(base64.b64decode(value))
    return b"\n".join(parts)


def assert_no_pin(text: str | bytes) -> None:
    data = text.encode() if isinstance(text, str) else text
    assert PIN.encode() not in data


# --- registration and configuration ----------------------------------------------------------


def test_dkb_and_commerzbank_are_served_by_the_fints_integration() -> None:
    assert integration_class("dkb") is FinTSIntegration
    assert integration_class("commerzbank") is FinTSIntegration


def test_a_missing_product_id_says_what_to_set_and_sends_nothing(bank: FakeFinTSBank) -> None:
    """A local setting is missing: a configuration problem, not a refused login."""
    with pytest.raises(ConfigurationProblem) as caught:
        integration(bank, fints_product_id=None).authenticate()
    assert not isinstance(caught.value, AuthenticationFailed)
    assert "set WEALTH_FINTS_PRODUCT_ID to your FinTS product registration" in str(caught.value)
    assert bank.requests == []


def test_missing_credentials_fail_before_contacting_the_bank(bank: FakeFinTSBank) -> None:
    with pytest.raises(AuthenticationFailed, match="username and a PIN"):
        integration(bank, credentials={"username": USERNAME, "pin": ""}).authenticate()
    assert bank.requests == []


# --- the happy path: app approval, accounts, balances, holdings ------------------------------


def test_app_approval_is_polled_then_accounts_balances_and_holdings_are_read(
    bank: FakeFinTSBank,
) -> None:
    bank.configure(sca="decoupled", approve_after_polls=2)
    with integration(bank) as dkb:
        result = dkb.authenticate()
        assert result.success and not result.requires_2fa
        accounts = {a.identifier: a for a in dkb.get_accounts()}
        giro = dkb.get_balance(GIRO)
        savings = dkb.get_balance(SAVINGS)
        depot = dkb.get_balance(DEPOT)
        positions = dkb.get_positions(DEPOT)
        assert dkb.get_positions(GIRO) == []

    assert {a: (i.name, i.account_type, i.currency) for a, i in accounts.items()} == {
        GIRO: ("Girokonto", "checking", "EUR"),
        SAVINGS: ("Tagesgeld", "savings", "EUR"),
        DEPOT: ("Depot", "brokerage", "EUR"),
    }
    assert (giro.balance, giro.currency, giro.balance_date) == (
        Decimal("1523.45"),
        "EUR",
        date(2024, 6, 14),
    )
    assert giro.available_balance == Decimal("3523.45")
    assert isinstance(giro.balance, Decimal)
    assert savings.balance == Decimal("-12.30")  # debit balance
    assert giro.raw_data is not None and giro.raw_data["segment"] == "HISAL7"
    assert_no_pin(json.dumps([giro.raw_data, savings.raw_data, depot.raw_data]))

    assert depot.balance == Decimal("12714.70")
    assert depot.balance_date == date(2024, 6, 14)
    world, sap = positions
    assert (world.isin, world.name, world.quantity, world.price_per_unit) == (
        "IE00B4L5Y983",
        "iShares Core MSCI World UCITS ETF",
        Decimal("120.5"),
        Decimal("91.234"),
    )
    assert (world.market_value, world.currency, world.asset_class) == (
        Decimal("10993.70"),
        "EUR",
        "fund",
    )
    assert world.cost_basis == Decimal("23.968293") * Decimal("120.5")
    assert (sap.isin, sap.quantity, sap.market_value, sap.asset_class) == (
        "DE0007164600",
        Decimal("10"),
        Decimal("1721.00"),
        "equity",
    )
    # A synchronisation dialog, the login with SCA, three polls (3956, 3956, approved).
    assert bank.received[:6] == [
        ["HKIDN", "HKVVB", "HKSYN"],
        ["HKEND"],
        ["HKIDN", "HKVVB", "HKTAN:4"],
        ["HKTAN:S"],
        ["HKTAN:S"],
        ["HKTAN:S"],
    ]
    assert bank.received[-1] == ["HKEND"]  # close() ends the dialog
    assert all(ok for _, ok in bank.logins)


def test_the_saved_state_keeps_the_system_id_so_the_next_run_needs_no_approval(
    bank: FakeFinTSBank,
) -> None:
    with integration(bank) as first:
        assert first.authenticate().success
    state = first.export_state()
    assert state and PIN.encode() not in state
    assert len(bank.systems) == 1 and bank.exempt == bank.systems
    bank.received.clear()

    with integration(bank, state=state) as second:
        assert second.authenticate().success
        assert [a.identifier for a in second.get_accounts()] == [GIRO, SAVINGS, DEPOT]
    assert "HKSYN" not in bank.types()
    assert "HKTAN:S" not in bank.types()  # 3076: no SCA needed
    assert {system for system, _ in bank.logins[-1:]} == bank.systems


def test_without_an_exemption_the_next_run_asks_for_approval_again(bank: FakeFinTSBank) -> None:
    bank.configure(grant_exemption=False)
    with integration(bank) as first:
        assert first.authenticate().success
    bank.received.clear()
    with integration(bank, state=first.export_state()) as second:
        assert second.authenticate().success
    assert "HKSYN" not in bank.types()
    assert "HKTAN:S" in bank.types()


def test_an_app_mechanism_answered_like_a_tan_is_still_polled(bank: FakeFinTSBank) -> None:
    """Some banks answer 0030 (not 3955) for their app (940): it is an approval all the same."""
    bank.configure(sca="decoupled", decoupled_code="0030", approve_after_polls=1)
    with integration(bank) as dkb:
        assert dkb.authenticate().success
    assert bank.types().count("HKTAN:S") == 2


# --- app approval that does not come ----------------------------------------------------------


def test_an_approval_that_never_comes_ends_in_resumable_two_factor_required(
    bank: FakeFinTSBank,
) -> None:
    bank.configure(sca="decoupled", approve_after_polls=None)
    started = time.monotonic()
    dkb = integration(bank, two_fa_wait_seconds=0.1)
    with dkb, pytest.raises(TwoFactorRequired) as caught:
        dkb.authenticate()
    # Bounded: it stops after its 0.1 s wait instead of hanging (a loose bound, not a speed test).
    assert time.monotonic() - started < 60
    auth = caught.value.auth
    assert auth.requires_2fa and auth.two_fa_type == "app" and auth.session_data
    assert "DKB-App" in auth.challenge_data["text"]
    assert "approved in the banking app" in str(caught.value)
    assert_no_pin(session_plaintext(auth.session_data))
    assert bank.received[-1] == ["HKTAN:S"]  # paused, not ended

    # Approved meanwhile: a new integration (as after a restart) resumes the same dialog.
    bank.configure(approve_after_polls=0)
    bank.received.clear()
    with integration(bank) as later:
        assert later.complete_2fa(None, auth.session_data).success
        assert later.get_balance(GIRO).balance == Decimal("1523.45")
    assert bank.received == [["HKTAN:S"], ["HKSPA"], ["HKSAL"], ["HKEND"]]
    assert len(bank.logins) == 2  # the sync dialog and the one login: no new login


def test_resuming_an_approval_still_pending_pauses_again(bank: FakeFinTSBank) -> None:
    bank.configure(approve_after_polls=None)
    with pytest.raises(TwoFactorRequired) as first:
        integration(bank, two_fa_wait_seconds=0.05).authenticate()
    with pytest.raises(TwoFactorRequired) as second:
        integration(bank, two_fa_wait_seconds=0.05).complete_2fa(
            None, first.value.auth.session_data
        )
    bank.configure(approve_after_polls=0)
    with integration(bank) as dkb:
        assert dkb.complete_2fa(None, second.value.auth.session_data).success
        assert len(dkb.get_accounts()) == 3


RESUME_SCRIPT = """
import json, sys
from pathlib import Path
from wealth_pipeline.brokers.base import BrokerConfig, IntegrationContext
from wealth_pipeline.brokers.registry import build_integration

url, folder, username, pin, product = sys.argv[1:]
folder = Path(folder)
context = IntegrationContext(timeout_seconds=2, poll_interval_seconds=0.01,
                             two_fa_wait_seconds=1, fints_product_id=product)
broker = BrokerConfig(code="dkb", name="DKB", integration_type="fints",
                      bank_identifier="12030000", fints_server=url)
with build_integration(broker, {"username": username, "pin": pin}, context) as dkb:
    result = dkb.complete_2fa(None, (folder / "session.bin").read_bytes())
    accounts = [a.identifier for a in dkb.get_accounts()]
    balance = dkb.get_balance(accounts[0])
    (folder / "state.bin").write_bytes(dkb.export_state())
print(json.dumps({"success": result.success, "accounts": accounts,
                  "balance": str(balance.balance), "pid": __import__("os").getpid()}))
"""


def test_another_process_resumes_the_paused_approval(bank: FakeFinTSBank, tmp_path: Path) -> None:
    bank.configure(sca="decoupled", approve_after_polls=None)
    with pytest.raises(TwoFactorRequired) as caught:
        integration(bank, two_fa_wait_seconds=0.05).authenticate()
    (tmp_path / "session.bin").write_bytes(caught.value.auth.session_data)
    bank.configure(approve_after_polls=1)  # approved after one more poll

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    arguments = [bank.base_url + "/fints", str(tmp_path), USERNAME, PIN, PRODUCT]
    done = subprocess.run(
        [sys.executable, "-c", RESUME_SCRIPT, *arguments],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    output = json.loads(done.stdout.strip().splitlines()[-1])
    assert output["pid"] != os.getpid()
    assert output == {**output, "success": True, "balance": "1523.45"}
    assert output["accounts"] == [GIRO, SAVINGS, DEPOT]
    assert PIN not in done.stdout + done.stderr

    # The state the other process saved logs in without approval.
    bank.received.clear()
    state = (tmp_path / "state.bin").read_bytes()
    with integration(bank, state=state) as dkb:
        assert dkb.authenticate().success
    assert "HKTAN:S" not in bank.types()


# --- challenges a person answers --------------------------------------------------------------


def test_a_tan_challenge_is_returned_and_completed_with_the_tan(bank: FakeFinTSBank) -> None:
    bank.configure(sca="tan", mechanisms=("920",), tan="482913")
    with integration(bank) as first:
        result = first.authenticate()
    assert not result.success and result.requires_2fa and result.two_fa_type == "tan"
    assert "Startcode 98765432" in result.challenge_data["text"]
    assert result.challenge_data["mechanism"] == "chipTAN manuell"
    assert_no_pin(session_plaintext(result.session_data))

    with integration(bank) as second:
        done = second.complete_2fa("482913", result.session_data)
        assert done.success
        assert second.get_balance(SAVINGS).balance == Decimal("-12.30")
    assert ["HKTAN:2"] in bank.received


def test_a_wrong_tan_is_an_authentication_failure(bank: FakeFinTSBank) -> None:
    bank.configure(sca="tan", mechanisms=("920",), tan="482913")
    result = integration(bank).authenticate()
    with pytest.raises(AuthenticationFailed, match="rejected the TAN") as caught:
        integration(bank).complete_2fa("000000", result.session_data)
    assert_no_pin(str(caught.value))
    assert bank.types().count("HKTAN:2") == 1


def test_a_phototan_challenge_carries_the_image(bank: FakeFinTSBank) -> None:
    bank.configure(sca="phototan", mechanisms=("902",))
    result = integration(bank, code="commerzbank").authenticate()
    assert result.requires_2fa and result.two_fa_type == "phototan"
    assert result.challenge_data["image_type"] == "image/png"
    assert base64.b64decode(result.challenge_data["image"]) == PNG
    assert "photoTAN" in result.challenge_data["text"]


def test_a_flicker_challenge_carries_the_code(bank: FakeFinTSBank) -> None:
    bank.configure(sca="flicker", mechanisms=("911",))
    result = integration(bank).authenticate()
    assert result.two_fa_type == "flicker"
    assert result.challenge_data["flicker"] == "0388A01239230520422D4E"
    assert result.challenge_data["text"] == "Bitte geben Sie die TAN ein."


def test_the_app_is_preferred_when_the_bank_lists_another_mechanism_first() -> None:
    def mechanism(function: str, name: str, polls: int | None = None) -> SimpleNamespace:
        return SimpleNamespace(
            security_function=function, name=name, zka_id="HHD", decoupled_max_poll_number=polls
        )

    offered = {"920": mechanism("920", "chipTAN"), "946": mechanism("946", "SecureGo", 99)}
    assert choose_tan_mechanism(offered, "920") == "946"
    # 940 counts as the app even without decoupled parameters (DKB).
    offered = {"902": mechanism("902", "photoTAN"), "940": mechanism("940", "DKB-App")}
    assert choose_tan_mechanism(offered, "902") == "940"
    offered = {"999": mechanism("999", "PIN only"), "902": mechanism("902", "photoTAN")}
    assert choose_tan_mechanism(offered, "999") == "902"


def test_the_bank_s_app_is_chosen_over_its_first_listed_mechanism(bank: FakeFinTSBank) -> None:
    bank.configure(mechanisms=("920", "940"), approve_after_polls=0)
    with integration(bank) as dkb:
        assert dkb.authenticate().success
    assert "HKTAN:S" in bank.types()


# --- PIN and access errors: never retried -----------------------------------------------------


@pytest.mark.parametrize(
    ("code", "words"), [("9910", "wrong PIN or username"), ("9931", "PIN is blocked")]
)
def test_a_rejected_pin_fails_after_exactly_one_login(
    bank: FakeFinTSBank, code: str, words: str
) -> None:
    bank.configure(pin_code=code)
    dkb = integration(bank, credentials={"username": USERNAME, "pin": "Wrong-99x"})
    with dkb, pytest.raises(AuthenticationFailed) as caught:
        dkb.authenticate()
    assert words in str(caught.value) and code in str(caught.value)
    assert "not retried" in str(caught.value)
    assert "Wrong-99x" not in str(caught.value)
    assert len(bank.logins) == 1 and len(bank.requests) == 1
    assert not AuthenticationFailed.retryable


def test_a_rejected_pin_with_saved_state_also_logs_in_once(bank: FakeFinTSBank) -> None:
    with integration(bank) as first:
        first.authenticate()
    bank.requests.clear()
    bank.logins.clear()
    wrong = {"username": USERNAME, "pin": "Wrong-99x"}
    with pytest.raises(AuthenticationFailed, match="9910"):
        integration(bank, credentials=wrong, state=first.export_state()).authenticate()
    assert len(bank.logins) == 1 and len(bank.requests) == 1


def test_locked_access_is_an_authentication_failure(bank: FakeFinTSBank) -> None:
    bank.configure(locked=True)
    with pytest.raises(AuthenticationFailed, match="locked") as caught:
        integration(bank).authenticate()
    assert "3938" in str(caught.value)
    assert_no_pin(str(caught.value))
    assert len(bank.logins) == 1


@pytest.mark.parametrize(
    ("code", "error"),
    [("9010", TemporarilyUnavailable), ("9800", TemporarilyUnavailable)],
)
def test_a_refused_dialog_is_a_readable_error(
    bank: FakeFinTSBank, code: str, error: type[Exception]
) -> None:
    bank.configure(init_code=code)
    with pytest.raises(error) as caught:
        integration(bank).authenticate()
    assert code in str(caught.value)
    assert len(bank.logins) == 1


def test_an_unknown_account_is_rejected_with_the_bank_s_text(bank: FakeFinTSBank) -> None:
    with integration(bank) as dkb:
        dkb.authenticate()
        dkb.get_accounts()
        bank.accounts[0].iban = "DE00999999999999999999"  # the bank no longer knows it
        with pytest.raises(FinTSRejected, match="9210"):
            dkb.get_balance(GIRO)
        with pytest.raises(FinTSRejected, match="no account"):
            dkb.get_balance("DE00000000000000000000")


def test_reading_before_login_is_refused(bank: FakeFinTSBank) -> None:
    with pytest.raises(AuthenticationFailed, match="not logged in"):
        integration(bank).get_accounts()


# --- transport faults -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        (Fault("status", 500), TemporarilyUnavailable),
        (Fault("status", 503), TemporarilyUnavailable),
        (Fault("slow", seconds=0.8), TemporarilyUnavailable),
        (Fault("drop"), TemporarilyUnavailable),
        (Fault("html"), MalformedAnswer),
        (Fault("garbage"), MalformedAnswer),
        (Fault("truncate"), MalformedAnswer),
        (Fault("status", 404), MalformedAnswer),
    ],
)
def test_transport_faults_are_typed_and_the_pin_is_not_resent(
    bank: FakeFinTSBank, fault: Fault, error: type[Exception]
) -> None:
    bank.inject(fault)
    short = {"timeout_seconds": 0.5} if fault.kind == "slow" else {}
    with pytest.raises(error) as caught:
        integration(bank, **short).authenticate()
    assert_no_pin(str(caught.value))
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    assert len(bank.requests) == 1  # never resent: every FinTS message carries the PIN


def test_a_fault_during_a_read_is_temporary(bank: FakeFinTSBank) -> None:
    with integration(bank) as dkb:
        dkb.authenticate()
        dkb.get_accounts()
        bank.inject(Fault("status", 502))
        with pytest.raises(TemporarilyUnavailable):
            dkb.get_balance(GIRO)


def test_library_exceptions_never_escape_raw(bank: FakeFinTSBank) -> None:
    dkb = integration(bank)
    cases = {
        FinTSConnectionError("x"): TemporarilyUnavailable,
        FinTSDialogInitError("x"): TemporarilyUnavailable,
        FinTSClientError("x"): TemporarilyUnavailable,
        FinTSNoResponseError("x"): TemporarilyUnavailable,
        FinTSUnsupportedOperation("x"): FinTSRejected,
        FinTSSCARequiredError("x"): TwoFactorRequired,
        Exception(f"Error response: {PIN}"): MalformedAnswer,
        KeyError("x"): MalformedAnswer,
    }
    for raised, expected in cases.items():
        with pytest.raises(expected) as caught, dkb._errors():
            raise raised
        assert_no_pin(str(caught.value))


# --- pure helpers -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("codes", "expected"),
    [
        ([("0020", "ok")], None),
        ([("3076", "Keine starke Authentifizierung")], None),
        ([("3956", "Freigabe ausstehend")], None),
        ([("9800", "abgebrochen"), ("9910", "PIN falsch")], AuthenticationFailed),
        ([("9931", "PIN gesperrt")], AuthenticationFailed),
        ([("3938", "Zugang gesperrt")], AuthenticationFailed),
        ([("9050", "fehlerhaft"), ("9941", "TAN falsch")], AuthenticationFailed),
        ([("9075", "SCA notwendig")], TwoFactorRequired),
        ([("9050", "fehlerhaft"), ("9210", "abgelehnt")], FinTSRejected),
        ([("9010", "Verarbeitung nicht möglich")], TemporarilyUnavailable),
        ([("9050", "Teilweise fehlerhaft")], TemporarilyUnavailable),
        ([("9800", "Dialog abgebrochen")], TemporarilyUnavailable),
        ([("9050", "fehlerhaft"), ("9955", "Gerätebezeichnung unbekannt")], TanMediumUnknown),
    ],
)
def test_bank_codes_become_typed_errors(codes: list, expected: type | None) -> None:
    error = bank_error(codes, "DKB")
    if expected is None:
        assert error is None
    else:
        assert type(error) is expected
        assert codes[-1][0] in str(error) or codes[0][0] in str(error)


def test_account_types_follow_the_fints_ranges() -> None:
    assert [account_type(c) for c in (1, 10, 20, 30, 50, 60, 99, None)] == [
        "checking",
        "savings",
        "time_deposit",
        "brokerage",
        "credit_card",
        "brokerage",
        "other",
        "other",
    ]


def test_mt535_is_parsed_exactly() -> None:
    world, sap = parse_mt535(MT535)
    assert world.name == "iShares Core MSCI World UCITS ETF"  # a name over two lines
    assert (world.wkn, world.price, world.quantity, world.total) == (
        "A0RPWH",
        Decimal("91.234"),
        Decimal("120.5"),
        Decimal("10993.70"),
    )
    assert world.acquisition_price == Decimal("23.968293")
    assert sap.price_date == date(2024, 6, 13) and sap.quantity == Decimal("10")


def test_mt535_bonds_and_commodities_get_their_asset_class() -> None:
    text = "\r\n".join(
        [
            "",
            ":16R:FIN",
            ":35B:ISIN DE0001102580|/DE/110258|Bund 0% 2032",
            ":90A::MRKT//PRCT/85,12",
            ":93B::AGGR//FAMT/5000,",
            ":16S:FIN",
            ":16R:FIN",
            ":35B:ISIN DE000A0S9GB0|Xetra-Gold",
            ":90B::MRKT//ACTU/EUR68,50",
            ":93B::AGGR//UNIT/3,",
            ":19A::HOLD//EUR205,50",
            ":16S:FIN",
            "-",
        ]
    )
    bund, gold = (position(h) for h in parse_mt535(text))
    assert (bund.asset_class, bund.market_value, bund.quantity) == (
        "fixed_income",
        Decimal("4256.00"),
        Decimal("5000"),
    )
    assert (gold.asset_class, gold.name, gold.market_value) == (
        "commodity",
        "Xetra-Gold",
        Decimal("205.50"),
    )


def test_unreadable_session_data_is_an_authentication_failure(bank: FakeFinTSBank) -> None:
    with pytest.raises(AuthenticationFailed, match="log in again"):
        integration(bank).complete_2fa(None, b"not a session")
    with pytest.raises(AuthenticationFailed):
        integration(bank).complete_2fa("123456", None)
    assert bank.requests == []


def test_session_data_holds_no_pin_even_in_the_pickled_dialog(bank: FakeFinTSBank) -> None:
    bank.configure(approve_after_polls=None)
    with pytest.raises(TwoFactorRequired) as caught:
        integration(bank, two_fa_wait_seconds=0.05).authenticate()
    saved = unpack_session(caught.value.auth.session_data)
    payload = json.loads(zlib.decompress(saved["dialog"].split(b";", 3)[3]))
    pickled = base64.b64decode(payload["data_bin"])
    assert PIN.encode() not in pickled
    assert b"PinTanTwoStepAuthenticationMechanism" in pickled  # it is the dialog indeed


# --- cash flows (HKKAZ, MT940) ----------------------------------------------------------------


def test_statement_lines_become_cash_flows(bank: FakeFinTSBank) -> None:
    bank.configure(sca="none")
    with integration(bank) as dkb:
        dkb.authenticate()
        flows = dkb.get_cash_flows(GIRO, date(2024, 6, 1), date(2024, 6, 14))
        again = dkb.get_cash_flows(GIRO, date(2024, 5, 1), date(2024, 6, 14))
        assert dkb.get_cash_flows(DEPOT, date(2024, 6, 1), date(2024, 6, 14)) == []
        assert dkb.cash_flow_span(DEPOT, date(2024, 6, 1), date(2024, 6, 14)) is None
        assert dkb.cash_flow_span(GIRO, date(2024, 6, 1), date(2024, 6, 14)) == (
            date(2024, 6, 1),
            date(2024, 6, 14),
        )
    assert [(f.flow_date, f.amount, f.kind) for f in flows] == [
        (date(2024, 6, 3), Decimal("-950.0000"), "withdrawal"),
        (date(2024, 6, 3), Decimal("-500.0000"), "withdrawal"),
        (date(2024, 6, 10), Decimal("-4.9000"), "fee"),
        (date(2024, 6, 12), Decimal("0.8300"), "interest"),
    ]
    assert all(f.currency == "EUR" for f in flows)
    assert "Miete Juni" in flows[0].description and "Hausverwaltung AG" in flows[0].description
    # the same lines get the same ids on a longer re-fetch (idempotent re-sync)
    assert {f.external_id for f in flows} < {f.external_id for f in again}
    assert len(again) == 5 and again[0].kind == "deposit"
    assert ["HKKAZ"] in bank.received or any("HKKAZ" in m for m in bank.received)
    assert_no_pin(json.dumps([f.raw_data for f in again]))


def test_a_bank_refusing_statements_is_a_typed_error(bank: FakeFinTSBank) -> None:
    bank.configure(sca="none", kaz_code="9010")
    with integration(bank) as dkb:
        dkb.authenticate()
        with pytest.raises(base.BrokerError) as caught:
            dkb.get_cash_flows(GIRO, date(2024, 6, 1), date(2024, 6, 14))
    assert_no_pin(str(caught.value))


# --- TAN media (9955) and balances python-fints cannot parse ---------------------------------


def test_the_only_tan_medium_is_taken_and_kept_with_the_state(bank: FakeFinTSBank) -> None:
    bank.configure(media=("iPhone Anna",))
    with integration(bank) as first:
        assert first.authenticate().success
        assert first.get_balance(GIRO).balance == Decimal("1523.45")
        state = first.export_state()
    # Listed in a dialog opened for HKTAB alone (no approval asked there), then named.
    assert bank.types()[4:9] == ["HKIDN", "HKVVB", "HKTAN:4", "HKTAB", "HKEND"]
    assert bank.media_named == ["iPhone Anna"]
    with integration(bank, state=state) as second:  # the choice is remembered
        assert second.authenticate().success
    assert bank.media_named == ["iPhone Anna", "iPhone Anna"]
    assert bank.types().count("HKTAB") == 1


def test_several_tan_media_ask_the_person_once_and_the_choice_is_kept(
    bank: FakeFinTSBank,
) -> None:
    bank.configure(media=("iPhone Anna", "iPad Küche"))
    with integration(bank) as unattended:
        auth = unattended.authenticate()
    assert (auth.success, auth.requires_2fa, auth.two_fa_type) == (False, True, CHOOSE_MEDIUM)
    assert auth.challenge_data is not None
    assert auth.challenge_data["options"] == ["iPhone Anna", "iPad Küche"]
    assert "TAN" not in (auth.error_message or "").replace("TAN media", "")  # not a wrong TAN
    assert auth.session_data is not None
    assert_no_pin(auth.session_data)
    with pytest.raises(FinTSRejected, match="iPhone Anna, iPad Küche"):
        integration(bank).complete_2fa("Nokia", auth.session_data)
    with integration(bank) as person:  # another process: `wealth accounts auth`
        done = person.complete_2fa("ipad küche", auth.session_data)
        assert done.success  # then the app approval as usual
        assert person.get_balance(SAVINGS).balance == Decimal("-12.30")
        state = person.export_state()
    assert bank.media_named[-1] == "iPad Küche"
    with integration(bank, state=state) as tomorrow:  # asked once: the next run needs no one
        assert tomorrow.authenticate().success
    assert bank.media_named[-1] == "iPad Küche"


def test_9955_for_a_medium_the_bank_no_longer_knows_lists_the_media_again(
    bank: FakeFinTSBank,
) -> None:
    bank.configure(media=("iPhone Anna",))
    with integration(bank) as first:
        assert first.authenticate().success
        state = first.export_state()
    bank.configure(media=("Pixel 8",))  # the old phone was replaced in online banking
    with integration(bank, state=state) as second:
        auth = second.authenticate()
        assert auth.success
        assert second.get_balance(GIRO).balance == Decimal("1523.45")
    # The stored name was refused with 9955, the media listed, the only one taken.
    assert bank.media_named[-2:] == ["iPhone Anna", "Pixel 8"]
    bank.configure(media=("Pixel 8", "iPad"))
    with integration(bank, state=state) as third:
        assert third.authenticate().two_fa_type == CHOOSE_MEDIUM


def test_9955_with_no_medium_listed_is_a_clear_refusal(bank: FakeFinTSBank) -> None:
    bank.configure(media=("iPhone Anna",))
    with integration(bank) as first:
        assert first.authenticate().success
        state = first.export_state()
    bank.configure(media=("iPad",), listed_media=())  # knows a medium, lists none
    with integration(bank, state=state) as second, pytest.raises(FinTSRejected, match="none"):
        second.authenticate()


@pytest.mark.parametrize("version", [8, 99])
def test_a_hisal_python_fints_cannot_parse_is_read_from_its_raw_elements(
    bank: FakeFinTSBank, version: int
) -> None:
    bank.configure(sca="none", hisal_version=version)
    with integration(bank) as dkb:
        dkb.authenticate()
        balance = dkb.get_balance(SAVINGS)
    assert (balance.balance, balance.currency, balance.balance_date) == (
        Decimal("-12.30"),
        "EUR",
        date(2024, 6, 14),
    )
    assert balance.raw_data is not None and balance.raw_data["segment"] == f"HISAL{version}"


def test_an_unreadable_balance_is_a_typed_malformed_answer(bank: FakeFinTSBank) -> None:
    bank.configure(sca="none", hisal_garbage=True)
    with integration(bank) as dkb:
        dkb.authenticate()
        with pytest.raises(MalformedAnswer, match="cannot read") as raised:
            dkb.get_balance(GIRO)
    assert not isinstance(raised.value, AttributeError)
