"""True Wealth: TOTP login with an XSRF-guarded session, portfolios, holdings and daily history.

Against the local fake of the web API (`tests/fakes/truewealth.py`); the login is never
retried, reads are, and no secret reaches a message or raw data.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import date
from decimal import Decimal

import pyotp
import pytest

from tests.fakes.server import Fault
from tests.fakes.truewealth import FakeTrueWealth, business_days, evolution_value, total_value
from wealth_pipeline import http
from wealth_pipeline.brokers import webapi
from wealth_pipeline.brokers.base import (
    AuthenticationFailed,
    BrokerConfig,
    IntegrationContext,
    MalformedAnswer,
    TemporarilyUnavailable,
)
from wealth_pipeline.brokers.catalogue import read_fixture
from wealth_pipeline.brokers.registry import build_integration
from wealth_pipeline.brokers.truewealth import (
    TrueWealthIntegration,
    parse_evolution,
    parse_holdings,
    parse_portfolios,
    totp_code,
)

USERNAME = "anna@example.ch"
PASSWORD = "Tr0ub4dor&3-very-secret"
TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
SECRETS = (PASSWORD, TOTP_SECRET)
CREDENTIALS = {"username": USERNAME, "password": PASSWORD, "totp_secret": TOTP_SECRET}
CONTEXT = IntegrationContext(
    timeout_seconds=0.5,
    retry=http.Retry(max_attempts=3, backoff_seconds=0.01),
    poll_interval_seconds=0.01,
    two_fa_wait_seconds=0.1,
    today=date(2024, 6, 14),
)
CATALOGUE = next(entry for entry in read_fixture() if entry["code"] == "truewealth")


@pytest.fixture(scope="session")
def truewealth_server() -> Iterator[FakeTrueWealth]:
    server = FakeTrueWealth(USERNAME, PASSWORD, TOTP_SECRET).start()
    yield server
    server.stop()


@pytest.fixture
def fake(truewealth_server: FakeTrueWealth) -> Iterator[FakeTrueWealth]:
    truewealth_server.reset()
    yield truewealth_server
    truewealth_server.reset()


def integration(fake: FakeTrueWealth, **credentials: str) -> TrueWealthIntegration:
    broker = BrokerConfig.from_row({**CATALOGUE, "api_base_url": fake.base_url})
    built = build_integration(broker, CREDENTIALS | credentials, CONTEXT)
    assert isinstance(built, TrueWealthIntegration)
    return built


def assert_no_secret(text: object) -> None:
    for secret in SECRETS:
        assert secret not in str(text)


def login_requests(fake: FakeTrueWealth) -> list:
    return [r for r in fake.requests if r.path == "/api/auth/login"]


# --- the happy path -------------------------------------------------------------------------


def test_sync_reads_portfolios_balances_holdings_and_history(fake: FakeTrueWealth) -> None:
    with integration(fake) as tw:
        assert tw.authenticate().success
        accounts = tw.get_accounts()
        assert [(a.identifier, a.account_type, a.currency) for a in accounts] == [
            ("TW-100234", "brokerage", "CHF"),
            ("TW-300871", "retirement", "CHF"),
        ]

        balance = tw.get_balance("TW-100234")
        assert balance.balance == total_value("TW-100234") == Decimal("47874.38")
        assert balance.balance.as_tuple().exponent == -4
        assert (balance.currency, balance.balance_date) == ("CHF", date(2024, 6, 14))
        assert balance.raw_data is not None
        assert balance.raw_data["performanceSummary"]["cashValue"] == Decimal("512.30")
        assert_no_secret(balance.raw_data)

        positions = {p.symbol: p for p in tw.get_positions("TW-100234")}
        assert set(positions) == {"VWRL", "CHSPI", "CSBGC0", "ZGLD", "SRECHA", "Cash CHF"}
        gold = positions["ZGLD"]
        assert (gold.isin, gold.quantity, gold.price_per_unit) == (
            "CH0139101593",
            Decimal("12"),
            Decimal("512.80"),
        )
        assert (gold.market_value, gold.asset_class, gold.currency) == (
            Decimal("6153.60"),
            "commodity",
            "CHF",
        )
        assert positions["CSBGC0"].asset_class == "fixed_income"
        assert positions["SRECHA"].asset_class == "real_estate"
        assert positions["Cash CHF"].asset_class == "cash"
        assert positions["Cash CHF"].isin is None
        assert sum(p.market_value for p in positions.values()) == balance.balance

        assert tw.supports_historical_data()
        history = tw.get_historical_balances("TW-100234", date(2024, 6, 1), date(2024, 6, 14))
        assert [h.balance_date for h in history] == business_days(
            date(2024, 6, 1), date(2024, 6, 14)
        )
        assert history[0].balance == evolution_value("TW-100234", date(2024, 6, 3))
        assert history[-1].balance == balance.balance
        assert all(isinstance(h.balance, Decimal) and h.currency == "CHF" for h in history)
    assert fake.logouts == 1
    assert fake.paths()[-1] == "/api/auth/logout"


def test_login_sends_the_current_totp_code_and_the_xsrf_token(fake: FakeTrueWealth) -> None:
    with integration(fake) as tw:
        tw.authenticate()
    csrf = next(r for r in fake.requests if r.path == "/api/auth/csrf")
    login = login_requests(fake)[0]
    body = login.json()
    assert (body["loginId"], body["password"]) == (USERNAME, PASSWORD)
    assert pyotp.TOTP(TOTP_SECRET).verify(body["token"], valid_window=1)
    assert login.headers["x-xsrf-token"] and "XSRF-TOKEN=" in login.headers["cookie"]
    assert csrf.method == "GET"


def test_reads_log_in_first_when_nobody_did(fake: FakeTrueWealth) -> None:
    with integration(fake) as tw:
        assert len(tw.get_accounts()) == 2
    assert fake.paths()[:3] == ["/api/auth/csrf", "/api/auth/login", "/api/portfolios"]


def test_secret_as_people_copy_it_with_spaces_and_lower_case(fake: FakeTrueWealth) -> None:
    spaced = " ".join(TOTP_SECRET[i : i + 4] for i in range(0, 32, 4)).lower()
    with integration(fake, totp_secret=spaced) as tw:
        assert tw.authenticate().success


def test_found_by_the_registry_with_the_catalogue_schema() -> None:
    broker = BrokerConfig.from_row(CATALOGUE)
    assert type(build_integration(broker, CREDENTIALS)) is TrueWealthIntegration
    assert set(TrueWealthIntegration.secret_fields) == {"password", "totp_secret"}
    assert CATALOGUE["credential_schema"]["properties"]["totp_secret"]["format"] == "password"


# --- refused logins: never retried, clear, without secrets ------------------------------------


def test_wrong_password_is_refused_once(fake: FakeTrueWealth) -> None:
    tw = integration(fake, password="wrong-password-123")
    with tw, pytest.raises(AuthenticationFailed, match="username or password") as caught:
        tw.authenticate()
    assert len(login_requests(fake)) == 1
    assert_no_secret(caught.value)
    assert "wrong-password-123" not in str(caught.value)
    assert fake.logouts == 0


def test_wrong_totp_secret_is_refused_as_a_bad_code(fake: FakeTrueWealth) -> None:
    other = pyotp.random_base32()
    tw = integration(fake, totp_secret=other)
    with tw, pytest.raises(AuthenticationFailed, match="one-time code") as caught:
        tw.authenticate()
    assert other not in str(caught.value)
    assert len(login_requests(fake)) == 1


def test_expired_code_from_a_wrong_clock_is_refused(fake: FakeTrueWealth) -> None:
    fake.clock_offset_seconds = 120  # our code is four steps old for the server
    with integration(fake) as tw, pytest.raises(AuthenticationFailed, match="clock") as caught:
        tw.authenticate()
    assert_no_secret(caught.value)


def test_code_one_step_old_is_still_accepted(fake: FakeTrueWealth) -> None:
    fake.clock_offset_seconds = 30
    with integration(fake) as tw:
        assert tw.authenticate().success


def test_invalid_secret_fails_before_anything_is_sent(fake: FakeTrueWealth) -> None:
    tw = integration(fake, totp_secret="NOT-BASE32-189")
    with tw, pytest.raises(AuthenticationFailed, match="base32") as caught:
        tw.authenticate()
    assert "NOT-BASE32-189" not in str(caught.value)
    assert login_requests(fake) == []


def test_locked_login_says_so(fake: FakeTrueWealth) -> None:
    fake.locked = True
    with integration(fake) as tw, pytest.raises(AuthenticationFailed, match="locked"):
        tw.authenticate()


def test_server_error_at_login_is_temporary_and_not_retried(fake: FakeTrueWealth) -> None:
    with integration(fake) as tw:
        tw.fetch_xsrf_token()
        fake.inject(Fault("status", 503))
        with pytest.raises(TemporarilyUnavailable):
            tw.authenticate()
    assert len(login_requests(fake)) == 1


def test_xsrf_token_request_is_retried_after_a_dropped_connection(fake: FakeTrueWealth) -> None:
    fake.inject(Fault("drop"))
    with integration(fake) as tw:
        assert tw.authenticate().success
    assert fake.paths()[:3] == ["/api/auth/csrf", "/api/auth/csrf", "/api/auth/login"]


def test_slow_login_times_out_once(fake: FakeTrueWealth) -> None:
    with integration(fake) as tw:
        tw.fetch_xsrf_token()
        fake.inject(Fault("slow", seconds=0.8))
        with pytest.raises(TemporarilyUnavailable, match="timed out"):
            tw.authenticate()
    assert len(login_requests(fake)) == 1


# --- reads: retried when transient, typed when not ------------------------------------------


def logged_in(fake: FakeTrueWealth) -> TrueWealthIntegration:
    tw = integration(fake)
    tw.authenticate()
    return tw


@pytest.mark.parametrize(
    "fault", [Fault("status", 429, headers={"Retry-After": "0"}), Fault("status", 503)]
)
def test_rate_limit_and_server_errors_are_retried(fake: FakeTrueWealth, fault: Fault) -> None:
    with logged_in(fake) as tw:
        fake.inject(fault, fault)
        assert tw.get_balance("TW-300871").balance == total_value("TW-300871")
    summaries = [p for p in fake.paths() if p.endswith("/performanceSummary")]
    assert len(summaries) == 3


def test_retries_exhausted_is_temporarily_unavailable(fake: FakeTrueWealth) -> None:
    with logged_in(fake) as tw:
        fake.inject(*[Fault("status", 502)] * 3)
        with pytest.raises(TemporarilyUnavailable, match="gave up after 3 attempts"):
            tw.get_positions("TW-100234")


def test_slow_answer_beyond_the_timeout_is_retried_then_given_up(fake: FakeTrueWealth) -> None:
    with logged_in(fake) as tw:
        fake.inject(Fault("slow", seconds=0.8))
        assert len(tw.get_accounts()) == 2
        fake.inject(*[Fault("slow", seconds=0.8)] * 3)
        with pytest.raises(TemporarilyUnavailable, match="timed out"):
            tw.get_accounts()


@pytest.mark.parametrize("kind", ["html", "truncate", "garbage"])
def test_answers_that_are_not_json_are_malformed(fake: FakeTrueWealth, kind: str) -> None:
    with logged_in(fake) as tw:
        fake.inject(Fault(kind))
        with pytest.raises(MalformedAnswer, match="other than JSON") as caught:
            tw.get_historical_balances("TW-100234", date(2024, 1, 1), date(2024, 6, 14))
    assert_no_secret(caught.value)


def test_html_login_page_instead_of_json_is_malformed(fake: FakeTrueWealth) -> None:
    with integration(fake) as tw:
        tw.fetch_xsrf_token()
        fake.inject(Fault("html"))
        with pytest.raises(MalformedAnswer):
            tw.authenticate()


def test_unknown_portfolio_is_reported(fake: FakeTrueWealth) -> None:
    with logged_in(fake) as tw, pytest.raises(MalformedAnswer, match="404"):
        tw.get_balance("TW-999")


def test_ended_session_is_an_authentication_failure(fake: FakeTrueWealth) -> None:
    with logged_in(fake) as tw:
        fake.sessions.clear()
        with pytest.raises(AuthenticationFailed, match="session"):
            tw.get_accounts()


def test_repr_and_errors_carry_no_secret(fake: FakeTrueWealth) -> None:
    tw = integration(fake)
    assert_no_secret(repr(tw))
    fake.inject(*[Fault("status", 500)] * 3)
    with pytest.raises(TemporarilyUnavailable) as caught:
        tw.authenticate()
    assert_no_secret(caught.value)
    tw.close()


# --- the mapping, directly --------------------------------------------------------------------


def test_portfolio_types_map_to_account_types() -> None:
    accounts = parse_portfolios(
        [
            {"id": 1, "name": "A", "type": "VESTED_BENEFITS", "currency": "chf"},
            {"id": "2", "type": "SOMETHING_NEW"},
        ]
    )
    assert accounts[0] == dataclasses.replace(
        accounts[0], identifier="1", account_type="retirement", currency="CHF"
    )
    assert (accounts[1].name, accounts[1].account_type) == ("Portfolio 2", "brokerage")


def test_holdings_keep_exact_decimals_and_map_unknown_classes_to_other() -> None:
    payload = {
        "currency": "CHF",
        "positions": [
            {
                "isin": "XX0000000001",
                "name": "New thing",
                "assetClass": "CRYPTO_BASKET",
                "quantity": Decimal("0.123456789"),
                "price": Decimal("10.5"),
                "value": Decimal("1.29629628"),
            }
        ],
    }
    [position] = parse_holdings(payload)
    assert position.symbol == "XX0000000001"
    assert position.asset_class == "other"
    assert position.quantity == Decimal("0.12345679")
    assert position.market_value == Decimal("1.2963")


def test_evolution_is_cut_to_the_range_and_sorted() -> None:
    payload = {
        "currency": "CHF",
        "points": [
            {"date": "2024-03-05", "value": 3},
            {"date": "2024-03-01T00:00:00Z", "value": Decimal("1.5")},
            {"date": "2024-03-10", "value": 9},
        ],
    }
    history = parse_evolution(payload, date(2024, 3, 1), date(2024, 3, 5))
    assert [(h.balance_date.day, h.balance) for h in history] == [
        (1, Decimal("1.5000")),
        (5, Decimal("3.0000")),
    ]


def test_answers_missing_fields_or_with_floats_are_malformed() -> None:
    with (
        pytest.raises(MalformedAnswer, match="without the field 'points'"),
        webapi.reading("True Wealth", "the evolution", str),
    ):
        parse_evolution({"currency": "CHF"}, date(2024, 1, 1), date(2024, 1, 2))
    with (
        pytest.raises(MalformedAnswer, match="float"),
        webapi.reading("True Wealth", "the holdings", str),
    ):
        parse_holdings({"positions": [{"name": "x", "quantity": 1.5, "price": 1, "value": 1}]})


def test_totp_code_is_six_digits() -> None:
    code = totp_code(TOTP_SECRET)
    assert len(code) == 6 and code.isdigit()
