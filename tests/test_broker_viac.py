"""VIAC: a phone-number login with the SMS step (resumable in another process), the CSRF pair
discovered from the cookie, JSON:API errors, a saved session reused while its heartbeat
answers 204, portfolios from the inventory, values and history from the wealth summary,
positions from assetsOverview.

Against the local fake (`tests/support/fakes/viac.py`, which cites the source of each shape); the
password and the code are never retried, reads are, and no secret reaches a message, a log,
the saved session or raw data.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Iterator
from datetime import date
from decimal import Decimal

import httpx
import pytest

from tests.support.fakes.server import Fault
from tests.support.fakes.viac import (
    AUTH,
    BIG,
    LAST_VALUE,
    MASKED_PHONE,
    SMALL,
    VESTED,
    FakeViac,
    daily_value,
)
from wealth_pipeline import http, money
from wealth_pipeline.brokers import webapi
from wealth_pipeline.brokers.base import (
    AuthenticationFailed,
    AuthResult,
    BrokerConfig,
    IntegrationContext,
    MalformedAnswer,
    TemporarilyUnavailable,
    TwoFactorRequired,
)
from wealth_pipeline.brokers.catalogue import CredentialsInvalid, read_fixture, validate_credentials
from wealth_pipeline.brokers.registry import build_integration
from wealth_pipeline.brokers.viac import (
    ViacIntegration,
    csrf_header,
    normalise_phone,
    parse_assets,
    parse_inventory,
)

PHONE = "+41791234567"
PASSWORD = "viac-S3cret-pass!"
CREDENTIALS = {"username": "+41 79 123 45 67", "password": PASSWORD}
CONTEXT = IntegrationContext(
    timeout_seconds=0.5,
    retry=http.Retry(max_attempts=3, backoff_seconds=0.01),
    today=date(2024, 6, 14),
)
CATALOGUE = next(entry for entry in read_fixture() if entry["code"] == "viac")


@pytest.fixture(scope="session")
def viac_server() -> Iterator[FakeViac]:
    server = FakeViac(PHONE, PASSWORD).start()
    yield server
    server.stop()


@pytest.fixture
def fake(viac_server: FakeViac) -> Iterator[FakeViac]:
    viac_server.reset()
    viac_server.csrf_build = 759
    yield viac_server
    viac_server.reset()


def integration(fake: FakeViac, state: bytes | None = None, **credentials: str) -> ViacIntegration:
    broker = BrokerConfig.from_row({**CATALOGUE, "api_base_url": fake.base_url})
    context = dataclasses.replace(CONTEXT, state=state)
    built = build_integration(broker, CREDENTIALS | credentials, context)
    assert isinstance(built, ViacIntegration)
    return built


def logins(fake: FakeViac) -> list:
    return [r for r in fake.requests if r.path == f"{AUTH}/password/check/"]


def otp_checks(fake: FakeViac) -> list:
    return [r for r in fake.requests if r.path == f"{AUTH}/mtan/otp/check/"]


def logged_in(fake: FakeViac) -> ViacIntegration:
    viac = integration(fake)
    auth = viac.authenticate()
    assert auth.requires_2fa
    assert viac.complete_2fa(fake.sms_codes[-1], None).success
    return viac


def wrong(code: str) -> str:
    return "000000" if code != "000000" else "111111"


# --- the happy path -------------------------------------------------------------------------


def test_sync_after_the_sms_reads_portfolios_values_history_and_positions(
    fake: FakeViac, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    viac = integration(fake)
    auth = viac.authenticate()
    assert (auth.success, auth.requires_2fa, auth.two_fa_type) == (False, True, "sms")
    assert auth.challenge_data is not None and MASKED_PHONE in auth.challenge_data["text"]
    assert auth.session_data and PASSWORD.encode() not in auth.session_data
    assert viac.complete_2fa(f" {fake.sms_codes[-1]} ", auth.session_data).success
    with viac:
        accounts = viac.get_accounts()
        assert [(a.identifier, a.account_type, a.currency) for a in accounts] == [
            (BIG, "retirement", "CHF"),
            (SMALL, "retirement", "CHF"),
            (VESTED, "retirement", "CHF"),
        ]
        assert accounts[0].name == "VIAC pillar 3a: Portfolio 1"
        assert accounts[2].name == "VIAC vested benefits: Freizügigkeit"

        balance = viac.get_balance(BIG)
        assert balance.balance == money.quantize(LAST_VALUE[BIG], 4) == Decimal("29581.2083")
        assert (balance.currency, balance.balance_date) == ("CHF", date(2024, 6, 14))
        assert balance.raw_data is not None
        assert balance.raw_data["value"] == LAST_VALUE[BIG]  # all 22 decimals
        assert balance.raw_data["portfolioNumber"] == BIG
        assert viac.get_balance(VESTED).balance == money.quantize(LAST_VALUE[VESTED], 4)

        history = viac.get_historical_balances(SMALL, date(2024, 6, 10), date(2024, 6, 30))
        assert [h.balance_date.day for h in history] == [10, 11, 12, 13, 14]
        assert history[0].raw_data["value"] == daily_value(SMALL, date(2024, 6, 10))
        assert history[0].raw_data["investedAmount"] == Decimal("20010.5")
        whole = viac.get_historical_balances(BIG, date(2000, 1, 1), date(2024, 6, 14))
        assert whole[0].balance_date == date(2024, 5, 1) and len(whole) == 45

        positions = {p.name: p for p in viac.get_positions(BIG)}
        spi = positions["CSIF (CH) Equity Switzerland Large Cap"]
        assert (spi.isin, spi.symbol, spi.quantity, spi.price_per_unit, spi.market_value) == (
            "CH0033782431",
            "CH0033782431",
            Decimal("9.51412"),
            Decimal("1943.22"),
            Decimal("18487.8053"),
        )
        usa = positions["UBS ETF MSCI USA"]
        assert (usa.currency, usa.price_per_unit, usa.market_value) == (
            "CHF",
            None,  # its price is in USD: not a CHF price
            Decimal("3181.1232"),
        )
        assert {p.asset_class for p in positions.values()} == {
            "equity",
            "fixed_income",
            "real_estate",
            "commodity",
            "cash",
        }
        assert positions["Cash"].market_value == Decimal("312.4500")
        assert viac.get_positions(VESTED) == []  # guess: no known path for vested benefits
    assert len([p for p in fake.paths() if p == "/rest/web/wealth/summary"]) == 1
    dumped = json.dumps([balance.raw_data, caplog.text], default=str)
    assert PASSWORD not in dumped and PHONE not in dumped


def test_login_sends_e164_and_echoes_the_discovered_csrf_pair(fake: FakeViac) -> None:
    fake.csrf_build = 4242  # a new VIAC release: a new cookie and header name
    viac = logged_in(fake)
    viac.close()
    assert fake.paths()[:3] == ["/", f"{AUTH}/flow/", f"{AUTH}/password/check/"]
    login = logins(fake)[0]
    assert login.json() == {"username": PHONE, "password": PASSWORD}
    token = login.headers["x-csrft4242"]
    assert f"CSRFT4242-S={token}" in login.headers["cookie"]
    assert all(r.headers["x-same-domain"] == "1" for r in fake.requests)
    assert all(r.headers["user-agent"].startswith("Mozilla/") for r in fake.requests)
    assert fake.paths()[3:6] == [
        f"{AUTH}/mtan/otp/check/",
        f"{AUTH}/",
        "/rest/web/customer/loginHook",
    ]
    assert otp_checks(fake)[0].json() == {"otp": fake.sms_codes[-1]}


def test_the_fake_refuses_a_missing_same_domain_header_or_wrong_csrf(fake: FakeViac) -> None:
    with httpx.Client(base_url=fake.base_url, headers={"User-Agent": "Mozilla/5.0"}) as bare:
        assert bare.get("/").status_code == 403
        bare.headers["X-Same-Domain"] = "1"
        assert bare.get("/").status_code == 200
        answer = bare.delete(f"{AUTH}/flow/", headers={"x-csrft759": "not-the-cookie"})
        assert answer.status_code == 403


def test_sms_code_completes_the_login_in_another_process(fake: FakeViac) -> None:
    first = integration(fake)
    result = first.authenticate()
    first.close()  # the process ends, the login waits for the code

    second = integration(fake)
    assert second.complete_2fa(fake.sms_codes[-1], result.session_data).success
    assert [a.identifier for a in second.get_accounts()] == [BIG, SMALL, VESTED]
    second.close()
    assert len(logins(fake)) == 1 and len(otp_checks(fake)) == 1


def test_reads_without_the_code_ask_for_a_person(fake: FakeViac) -> None:
    with integration(fake) as viac:
        with pytest.raises(TwoFactorRequired) as caught:
            viac.get_accounts()
        assert caught.value.needs_person and caught.value.auth.two_fa_type == "sms"
        with pytest.raises(TwoFactorRequired):  # the waiting login is not repeated
            viac.get_balance(BIG)
        assert viac.complete_2fa(fake.sms_codes[-1], None).success
        assert viac.get_balance(SMALL).balance == money.quantize(LAST_VALUE[SMALL], 4)
    assert len(logins(fake)) == 1


# --- the SMS step's errors ------------------------------------------------------------------------


def test_wrong_code_asks_again(fake: FakeViac) -> None:
    viac = integration(fake)
    state = viac.authenticate().session_data
    again = viac.complete_2fa(wrong(fake.sms_codes[-1]), state)
    assert (again.success, again.requires_2fa, again.two_fa_type) == (False, True, "sms")
    assert again.error_message and "enter it again" in again.error_message
    assert again.challenge_data and MASKED_PHONE in again.challenge_data["text"]
    assert viac.complete_2fa(fake.sms_codes[-1], again.session_data).success
    viac.close()
    assert len(logins(fake)) == 1 and len(fake.sms_codes) == 1


def test_expired_code_sends_a_new_one_and_asks_again(fake: FakeViac) -> None:
    fake.code_lifetime_seconds = 0.0
    viac = integration(fake)
    state = viac.authenticate().session_data
    again = viac.complete_2fa(fake.sms_codes[-1], state)
    assert again.requires_2fa and again.error_message and "expired" in again.error_message
    assert len(fake.sms_codes) == 2  # VIAC sent a new code
    fake.code_lifetime_seconds = 300.0
    assert viac.complete_2fa(fake.sms_codes[-1], again.session_data).success
    viac.close()


def test_code_check_is_never_retried(fake: FakeViac) -> None:
    state = integration(fake).authenticate().session_data
    fake.inject(Fault("status", 503))
    with pytest.raises(TemporarilyUnavailable):
        integration(fake).complete_2fa(fake.sms_codes[-1], state)
    assert len(otp_checks(fake)) == 1


def test_missing_code_or_state_is_refused_without_a_request(fake: FakeViac) -> None:
    with pytest.raises(AuthenticationFailed, match="none was given"):
        integration(fake).complete_2fa("  ", b"{}")
    with pytest.raises(AuthenticationFailed, match="No VIAC login is waiting"):
        integration(fake).complete_2fa("123456", None)
    with pytest.raises(AuthenticationFailed, match="cannot be resumed"):
        integration(fake).complete_2fa("123456", b"not json")
    assert otp_checks(fake) == []


# --- refused logins ---------------------------------------------------------------------------


def test_wrong_password_is_an_authentication_failure_sent_once(fake: FakeViac) -> None:
    viac = integration(fake, password="not-the-password")
    with viac, pytest.raises(AuthenticationFailed, match="country code") as caught:
        viac.authenticate()
    assert not caught.value.needs_person
    assert len(logins(fake)) == 1 and fake.sms_codes == []
    assert "not-the-password" not in str(caught.value) and PHONE not in str(caught.value)


def test_rate_limited_login_is_temporary_and_not_retried(fake: FakeViac) -> None:
    fake.rate_limited = True
    with integration(fake) as viac, pytest.raises(TemporarilyUnavailable, match="RATE_LIMITED"):
        viac.authenticate()
    assert len(logins(fake)) == 1


def test_phone_without_country_code_is_refused_clearly(fake: FakeViac) -> None:
    with pytest.raises(AuthenticationFailed, match="country code"):
        integration(fake, username="079 123 45 67").authenticate()
    assert fake.requests == []
    schema = CATALOGUE["credential_schema"]
    for bad in ("079 123 45 67", "anna@example.ch", "+0791234567", "41791234567"):
        with pytest.raises(CredentialsInvalid, match="username: has the wrong format") as c:
            validate_credentials(schema, {"username": bad, "password": "pw"})
        assert "country code" in str(c.value) and bad not in str(c.value)
    for good in ("+41791234567", "+41 79 123 45 67", "+49-151-2345-6789"):
        assert validate_credentials(schema, {"username": good, "password": "pw"})
    assert normalise_phone("+49-151-2345-6789") == "+4915123456789"


def test_login_page_without_a_csrf_cookie_is_malformed(fake: FakeViac) -> None:
    fake.csrf_cookie = False
    with integration(fake) as viac, pytest.raises(MalformedAnswer, match="CSRFT"):
        viac.authenticate()
    assert logins(fake) == []


# --- a saved session: reused while its heartbeat answers 204 --------------------------------------


def test_saved_session_is_reused_without_an_sms_while_alive(fake: FakeViac) -> None:
    with logged_in(fake) as viac:
        state = viac.export_state()
    assert state and PASSWORD.encode() not in state and PHONE.encode() not in state

    later = integration(fake, state=state)
    assert later.heartbeat()
    assert later.authenticate() == AuthResult(success=True)
    assert len(later.get_accounts()) == 3
    later.close()
    assert len(fake.sms_codes) == 1 and len(logins(fake)) == 1


@pytest.mark.parametrize("redirect", [False, True])
def test_dead_session_heartbeat_is_false_and_a_new_login_needs_the_sms(
    fake: FakeViac, redirect: bool
) -> None:
    with logged_in(fake) as viac:
        state = viac.export_state()
    fake.expire_sessions()
    fake.dead_redirect = redirect  # the source names both: 401 or a redirect
    later = integration(fake, state=state)
    assert later.heartbeat() is False
    assert later.authenticate().requires_2fa
    later.close()
    assert len(fake.sms_codes) == 2
    heartbeats = [r for r in fake.requests if r.path == "/rest/web/heartbeat"]
    assert len(heartbeats) == 2  # each probe once, no retry of a dead answer


def test_heartbeat_without_a_session_sends_nothing(fake: FakeViac) -> None:
    assert integration(fake).heartbeat() is False
    assert integration(fake, state=b"garbage").heartbeat() is False
    assert fake.requests == []


def test_session_ending_mid_run_waits_for_a_person(fake: FakeViac) -> None:
    with logged_in(fake) as viac:
        fake.expire_sessions()
        with pytest.raises(webapi.PersonNeeded, match="ended the session") as caught:
            viac.get_accounts()
    assert caught.value.needs_person and isinstance(caught.value, AuthenticationFailed)


# --- reads ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fault", [Fault("status", 429, headers={"Retry-After": "0"}), Fault("status", 500)]
)
def test_rate_limit_and_server_errors_are_retried(fake: FakeViac, fault: Fault) -> None:
    with logged_in(fake) as viac:
        fake.inject(fault, fault)
        assert len(viac.get_positions(SMALL)) == 1


def test_retries_exhausted_is_temporarily_unavailable(fake: FakeViac) -> None:
    with logged_in(fake) as viac:
        fake.inject(*[Fault("status", 503)] * 3)
        with pytest.raises(TemporarilyUnavailable, match="gave up"):
            viac.get_accounts()


@pytest.mark.parametrize("kind", ["html", "truncate", "garbage"])
def test_answers_that_are_not_json_are_malformed(fake: FakeViac, kind: str) -> None:
    with logged_in(fake) as viac:
        fake.inject(Fault(kind))
        with pytest.raises(MalformedAnswer, match="other than JSON") as caught:
            viac.get_balance(BIG)
    assert PASSWORD not in str(caught.value)


def test_unknown_portfolio_is_reported(fake: FakeViac) -> None:
    with logged_in(fake) as viac:
        with pytest.raises(MalformedAnswer, match=r"no portfolio 3\.1"):
            viac.get_balance("3.1")
        with pytest.raises(MalformedAnswer, match="404"):
            viac.get_positions("3.1")


# --- the mapping, directly ----------------------------------------------------------------------


def test_csrf_pair_is_found_by_its_pattern() -> None:
    assert csrf_header(["AL_SESS-S", "CSRFT12-S"]) == ("CSRFT12-S", "x-csrft12")
    assert csrf_header(["CSRFT-S", "csrft1-s", "XSRF-TOKEN"]) is None


def test_inventory_kinds_and_unknown_classes() -> None:
    accounts = parse_inventory({"inv": [{"number": "1.2.3.4.01"}], "p3a": []})
    assert [(a.identifier, a.account_type, a.name) for a in accounts] == [
        ("1.2.3.4.01", "brokerage", "VIAC investing: Portfolio 1.2.3.4.01")
    ]
    [position] = parse_assets(
        {
            "cashAmount": 0,
            "assetsByClasses": {
                "CRYPTO": [{"name": "X", "amount": 1, "ratioInChf": Decimal("2.00005")}]
            },
        }
    )
    assert (position.asset_class, position.isin, position.symbol) == ("other", None, "X")
    assert position.market_value == Decimal("2.0000")
    with (
        pytest.raises(MalformedAnswer, match="float"),
        webapi.reading("VIAC", "the assets overview", str),
    ):
        parse_assets(
            {"assetsByClasses": {"BONDS": [{"name": "B", "amount": 1.5, "ratioInChf": 1}]}}
        )


def test_resume_session_reuses_a_live_session_and_never_sends_an_sms(fake: FakeViac) -> None:
    with logged_in(fake) as viac:
        state = viac.export_state()
    later = integration(fake, state=state)
    assert later.resume_session()
    assert later.get_balance(BIG).balance == money.quantize(LAST_VALUE[BIG], 4)
    later.close()
    fake.expire_sessions()
    dead = integration(fake, state=state)
    assert dead.resume_session() is False
    assert integration(fake).resume_session() is False  # nothing saved: nothing sent
    assert len(fake.sms_codes) == 1 and len(logins(fake)) == 1


# --- cash flows: the change of the invested amounts (a guess of shape, see viac.py) --------------


def test_invested_amount_changes_become_deposits_and_withdrawals(fake: FakeViac) -> None:
    from tests.support.fakes.viac import HISTORY_START, TODAY

    with logged_in(fake) as viac:
        assert viac.supports_cash_flows()
        span = viac.cash_flow_span(BIG, date(2024, 1, 1), TODAY)
        flows = viac.get_cash_flows(BIG, date(2024, 1, 1), TODAY)
    # the fake's invested amount is 20000.5 + day of month: +1 a day, down at each month start
    assert span is not None and span[1] == TODAY and span[0] > HISTORY_START
    assert all(f.currency == "CHF" and span[0] <= f.flow_date <= span[1] for f in flows)
    by_day = {f.flow_date: (f.kind, f.amount) for f in flows}
    assert by_day[date(2024, 6, 1)] == ("withdrawal", Decimal("-30.0000"))  # 20001.5 - 20031.5
    assert by_day[date(2024, 6, 2)] == ("deposit", Decimal("1.0000"))
    assert len(flows) == (TODAY - span[0]).days + 1  # one change a day
    assert len({f.external_id for f in flows}) == len(flows)
