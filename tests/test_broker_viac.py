"""VIAC: password login with an optional SMS code (resumable in another process), the wealth
summary's portfolios and daily history, and positions.

Against the local fake of the web API (`tests/fakes/viac.py`); the password and the code are
never retried, reads are, and no secret reaches a message or raw data.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal

import pytest

from tests.fakes.server import Fault
from tests.fakes.viac import AUTH, FakeViac, daily_value, portfolio_value
from wealth_pipeline import http
from wealth_pipeline.brokers.base import (
    AuthenticationFailed,
    AuthResult,
    BrokerConfig,
    IntegrationContext,
    MalformedAnswer,
    TemporarilyUnavailable,
    TwoFactorRequired,
)
from wealth_pipeline.brokers.catalogue import read_fixture, validate_credentials
from wealth_pipeline.brokers.registry import build_integration
from wealth_pipeline.brokers.viac import (
    ViacIntegration,
    parse_accounts,
    parse_history,
    parse_positions,
)

USERNAME = "anna@example.ch"
PASSWORD = "viac-S3cret-pass!"
CREDENTIALS = {"username": USERNAME, "password": PASSWORD}
CONTEXT = IntegrationContext(
    timeout_seconds=0.5,
    retry=http.Retry(max_attempts=3, backoff_seconds=0.01),
    poll_interval_seconds=0.01,
    two_fa_wait_seconds=0.1,
    today=date(2024, 6, 14),
)
CATALOGUE = next(entry for entry in read_fixture() if entry["code"] == "viac")
BIG, SMALL = "3a-58213", "3a-77120"


@pytest.fixture(scope="session")
def viac_server() -> Iterator[FakeViac]:
    server = FakeViac(USERNAME, PASSWORD).start()
    yield server
    server.stop()


@pytest.fixture
def fake(viac_server: FakeViac) -> Iterator[FakeViac]:
    viac_server.reset()
    yield viac_server
    viac_server.reset()


def integration(fake: FakeViac, **credentials: str) -> ViacIntegration:
    broker = BrokerConfig.from_row({**CATALOGUE, "api_base_url": fake.base_url})
    built = build_integration(broker, CREDENTIALS | credentials, CONTEXT)
    assert isinstance(built, ViacIntegration)
    return built


def logins(fake: FakeViac) -> list:
    return [r for r in fake.requests if r.path == f"{AUTH}/password/check/"]


def verifications(fake: FakeViac) -> list:
    return [r for r in fake.requests if r.path == f"{AUTH}/two-factor/verify/"]


# --- the happy path -------------------------------------------------------------------------


def test_sync_reads_portfolios_balances_positions_and_history(fake: FakeViac) -> None:
    with integration(fake) as viac:
        assert viac.authenticate() == AuthResult(success=True)
        accounts = viac.get_accounts()
        assert [(a.identifier, a.account_type, a.currency) for a in accounts] == [
            (BIG, "retirement", "CHF"),
            (SMALL, "retirement", "CHF"),
        ]
        assert accounts[0].name == "Portfolio 1 (Global 100)"

        balance = viac.get_balance(BIG)
        assert balance.balance == portfolio_value(BIG) == Decimal("29581.21")
        assert (balance.currency, balance.balance_date) == ("CHF", date(2024, 6, 14))
        assert balance.raw_data is not None and balance.raw_data["portfolio"]["id"] == BIG
        assert PASSWORD not in json.dumps(balance.raw_data, default=str)

        positions = {p.name: p for p in viac.get_positions(BIG)}
        spi = positions["CSIF (CH) Equity Switzerland Large Cap"]
        assert (spi.isin, spi.symbol, spi.quantity, spi.price_per_unit, spi.market_value) == (
            "CH0033782431",
            "CH0033782431",
            Decimal("9.514"),
            Decimal("1943.22"),
            Decimal("18487.80"),
        )
        classes = {p.asset_class for p in positions.values()}
        assert classes == {"equity", "fixed_income", "real_estate", "commodity", "cash"}
        assert positions["Cash"].isin is None and positions["Cash"].symbol == "Cash"
        assert sum(p.market_value for p in positions.values()) == balance.balance

        assert viac.supports_historical_data()
        history = viac.get_historical_balances(SMALL, date(2024, 6, 10), date(2024, 6, 30))
        assert [h.balance_date for h in history] == [
            date(2024, 6, 10) + timedelta(n) for n in range(5)
        ]
        assert history[0].balance == daily_value(SMALL, date(2024, 6, 10))
        assert history[-1].balance == viac.get_balance(SMALL).balance
    summaries = [p for p in fake.paths() if p == "/rest/web/wealth/summary"]
    assert len(summaries) == 1  # accounts, balances and history share one read
    assert fake.logouts == 1


def test_login_echoes_the_csrf_cookie_in_the_header(fake: FakeViac) -> None:
    with integration(fake) as viac:
        viac.authenticate()
    login = logins(fake)[0]
    assert login.json() == {"username": USERNAME, "password": PASSWORD}
    assert f"csrftoken={login.headers['x-csrftoken']}" in login.headers["cookie"]


def test_catalogue_schema_and_registry() -> None:
    assert validate_credentials(CATALOGUE["credential_schema"], CREDENTIALS) == CREDENTIALS
    assert CATALOGUE["supports_2fa"] is True
    assert type(build_integration(BrokerConfig.from_row(CATALOGUE), CREDENTIALS)) is ViacIntegration


# --- two-factor authentication ----------------------------------------------------------------


def test_sms_code_completes_the_login_in_another_process(fake: FakeViac) -> None:
    fake.two_factor = True
    first = integration(fake)
    result = first.authenticate()
    assert (result.success, result.requires_2fa, result.two_fa_type) == (False, True, "sms")
    assert result.challenge_data is not None
    assert "+41 79 *** ** 67" in result.challenge_data["text"]
    assert result.session_data and PASSWORD.encode() not in result.session_data
    first._client.close()  # the process ends without logging out  # type: ignore[union-attr]

    second = integration(fake)  # later, with the code the person typed in
    assert second.complete_2fa(fake.sms_codes[-1], result.session_data).success
    assert [a.identifier for a in second.get_accounts()] == [BIG, SMALL]
    second.close()
    assert len(logins(fake)) == 1 and len(verifications(fake)) == 1
    assert verifications(fake)[0].json() == {"code": fake.sms_codes[-1]}


def test_reads_without_the_code_ask_for_a_person(fake: FakeViac) -> None:
    fake.two_factor = True
    with integration(fake) as viac:
        with pytest.raises(TwoFactorRequired) as caught:
            viac.get_accounts()
        assert caught.value.auth.requires_2fa and caught.value.auth.session_data
        with pytest.raises(TwoFactorRequired):  # the waiting login is not repeated
            viac.get_balance(BIG)
        assert viac.complete_2fa(fake.sms_codes[-1], None).success
        assert viac.get_balance(BIG).balance == portfolio_value(BIG)
    assert len(logins(fake)) == 1


def test_wrong_code_can_be_entered_again_then_locks_out(fake: FakeViac) -> None:
    fake.two_factor = True
    viac = integration(fake)
    state = viac.authenticate().session_data
    with pytest.raises(TwoFactorRequired, match="2 attempts left") as caught:
        viac.complete_2fa("000000" if fake.sms_codes[-1] != "000000" else "111111", state)
    assert caught.value.auth.session_data == state
    assert integration(fake).complete_2fa(fake.sms_codes[-1], state).success
    fake.reset()
    fake.two_factor = True
    state = integration(fake).authenticate().session_data
    wrong = "000000" if fake.sms_codes[-1] != "000000" else "111111"
    for _ in range(2):
        with pytest.raises(TwoFactorRequired):
            integration(fake).complete_2fa(wrong, state)
    with pytest.raises(AuthenticationFailed, match="too often"):
        integration(fake).complete_2fa(wrong, state)
    viac.close()


def test_expired_code_asks_for_a_new_sync(fake: FakeViac) -> None:
    fake.two_factor = True
    fake.code_lifetime_seconds = 0.0
    state = integration(fake).authenticate().session_data
    with pytest.raises(AuthenticationFailed, match="expired"):
        integration(fake).complete_2fa(fake.sms_codes[-1], state)


def test_missing_code_or_state_is_refused_without_a_request(fake: FakeViac) -> None:
    with pytest.raises(AuthenticationFailed, match="none was given"):
        integration(fake).complete_2fa("  ", b"{}")
    with pytest.raises(AuthenticationFailed, match="No VIAC login is waiting"):
        integration(fake).complete_2fa("123456", None)
    with pytest.raises(AuthenticationFailed, match="cannot be resumed"):
        integration(fake).complete_2fa("123456", b"not json")
    assert verifications(fake) == []


def test_code_check_is_never_retried(fake: FakeViac) -> None:
    fake.two_factor = True
    state = integration(fake).authenticate().session_data
    fake.inject(Fault("status", 503))
    with pytest.raises(TemporarilyUnavailable):
        integration(fake).complete_2fa(fake.sms_codes[-1], state)
    assert len(verifications(fake)) == 1


# --- refused logins ---------------------------------------------------------------------------


def test_wrong_password_is_refused_once(fake: FakeViac) -> None:
    viac = integration(fake, password="not-the-password")
    with viac, pytest.raises(AuthenticationFailed, match="email or password") as caught:
        viac.authenticate()
    assert len(logins(fake)) == 1
    assert "not-the-password" not in str(caught.value)
    assert fake.logouts == 0


def test_locked_login_says_so(fake: FakeViac) -> None:
    fake.locked = True
    with integration(fake) as viac, pytest.raises(AuthenticationFailed, match="locked"):
        viac.authenticate()


def test_login_is_not_retried_on_rate_limits(fake: FakeViac) -> None:
    with integration(fake) as viac:
        viac.fetch_csrf_token()
        fake.inject(Fault("status", 429))
        with pytest.raises(TemporarilyUnavailable, match="429"):
            viac.authenticate()
    assert len(logins(fake)) == 1


# --- reads --------------------------------------------------------------------------------------


def logged_in(fake: FakeViac) -> ViacIntegration:
    viac = integration(fake)
    assert viac.authenticate().success
    return viac


@pytest.mark.parametrize(
    "fault", [Fault("status", 429, headers={"Retry-After": "0"}), Fault("status", 500)]
)
def test_rate_limit_and_server_errors_are_retried(fake: FakeViac, fault: Fault) -> None:
    with logged_in(fake) as viac:
        fake.inject(fault, fault)
        assert len(viac.get_positions(SMALL)) == 2


def test_retries_exhausted_is_temporarily_unavailable(fake: FakeViac) -> None:
    with logged_in(fake) as viac:
        fake.inject(*[Fault("status", 503)] * 3)
        with pytest.raises(TemporarilyUnavailable, match="gave up"):
            viac.get_accounts()


def test_slow_answers_are_retried_then_given_up(fake: FakeViac) -> None:
    with logged_in(fake) as viac:
        fake.inject(Fault("slow", seconds=0.8))
        assert len(viac.get_positions(BIG)) == 6
        fake.inject(*[Fault("slow", seconds=0.8)] * 3)
        with pytest.raises(TemporarilyUnavailable, match="timed out"):
            viac.get_positions(BIG)


@pytest.mark.parametrize("kind", ["html", "truncate", "garbage"])
def test_answers_that_are_not_json_are_malformed(fake: FakeViac, kind: str) -> None:
    with logged_in(fake) as viac:
        fake.inject(Fault(kind))
        with pytest.raises(MalformedAnswer, match="other than JSON") as caught:
            viac.get_accounts()
    assert PASSWORD not in str(caught.value)


def test_unknown_portfolio_is_reported(fake: FakeViac) -> None:
    with logged_in(fake) as viac:
        with pytest.raises(MalformedAnswer, match="no portfolio 3a-1"):
            viac.get_balance("3a-1")
        with pytest.raises(MalformedAnswer, match="404"):
            viac.get_positions("3a-1")


def test_ended_session_is_an_authentication_failure(fake: FakeViac) -> None:
    with logged_in(fake) as viac:
        fake.sessions.clear()
        with pytest.raises(AuthenticationFailed, match="session"):
            viac.get_accounts()


# --- the mapping, directly ----------------------------------------------------------------------


def test_history_of_a_single_portfolio_uses_the_totals() -> None:
    summary = {
        "currency": "CHF",
        "portfolios": [{"id": "A", "value": 10}],
        "dailyWealth": [
            {"date": "2024-01-02", "value": Decimal("9.5")},
            {"date": "2024-01-01", "value": 9},
        ],
    }
    assert [
        (h.balance_date.day, h.balance)
        for h in parse_history(summary, "A", date(2024, 1, 1), date(2024, 1, 31))
    ] == [(1, Decimal("9.0000")), (2, Decimal("9.5000"))]
    summary["portfolios"].append({"id": "B", "value": 1})
    assert parse_history(summary, "A", date(2024, 1, 1), date(2024, 1, 31)) == []


def test_unknown_kinds_map_to_defaults() -> None:
    [account] = parse_accounts({"portfolios": [{"id": 7, "type": "NEW_PRODUCT"}]})
    assert (account.identifier, account.account_type, account.currency) == (
        "7",
        "retirement",
        "CHF",
    )
    [position] = parse_positions(
        {"positions": [{"name": "X", "assetClass": "ART", "quantity": 1, "value": 2}]}
    )
    assert (position.asset_class, position.price_per_unit) == ("other", None)
