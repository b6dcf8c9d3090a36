"""True Wealth: the web app's header set and double-submit XSRF, a TOTP login answered with an
empty 200/204, portfolios from the fee schedules, the balance from `performanceSummary`, the
whole daily history from `evolution` (inflows and fees exact in raw_data), optional holdings.

Against the local fake (`tests/support/fakes/truewealth.py`, which cites the source of each shape);
the login is never retried, reads are, and no secret reaches a message, a log or raw data.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import date
from decimal import Decimal

import pyotp
import pytest

from tests.support.fakes.server import Fault
from tests.support.fakes.truewealth import (
    DEPOSIT_DAY,
    FEE_DAY,
    HISTORY_START,
    NET_VALUE,
    WITHDRAWAL_DAY,
    FakeTrueWealth,
    business_days,
    evolution_value,
)
from wealth_pipeline import http, money
from wealth_pipeline.brokers import webapi
from wealth_pipeline.brokers.base import (
    AuthenticationFailed,
    BrokerConfig,
    IntegrationContext,
    MalformedAnswer,
    TemporarilyUnavailable,
)
from wealth_pipeline.brokers.catalogue import CredentialsInvalid, read_fixture, validate_credentials
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
    today=date(2024, 6, 14),
)
CATALOGUE = next(entry for entry in read_fixture() if entry["code"] == "truewealth")
FREE, PILLAR = "677155", "677201"


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
    dumped = json.dumps(text, default=str) if not isinstance(text, str) else text
    for secret in SECRETS:
        assert secret not in dumped


def login_requests(fake: FakeTrueWealth) -> list:
    return [r for r in fake.requests if r.path == "/api/auth/login"]


# --- the happy path -------------------------------------------------------------------------


def test_sync_reads_portfolios_balance_history_and_holdings(
    fake: FakeTrueWealth, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with integration(fake) as tw:
        assert tw.authenticate().success
        accounts = tw.get_accounts()
        assert [(a.identifier, a.account_type, a.currency) for a in accounts] == [
            (FREE, "brokerage", "CHF"),
            (PILLAR, "brokerage", "CHF"),
        ]  # the fee schedules list 677155 twice: one account
        assert accounts[0].name == f"True Wealth portfolio {FREE}"

        balance = tw.get_balance(FREE)
        assert balance.balance == Decimal("48211.5387")  # 48211.53870214 at 4 places
        assert (balance.currency, balance.balance_date) == ("CHF", date(2024, 6, 14))
        assert balance.raw_data is not None
        item = balance.raw_data["performanceSummary"]["portfolioItem"]
        assert item["netValue"] == NET_VALUE[FREE]  # exact, all 8 decimals

        history = tw.get_historical_balances(FREE, date(2000, 1, 1), date(2024, 6, 14))
        assert [h.balance_date for h in history] == business_days(HISTORY_START, date(2024, 6, 14))
        assert history[-1].balance == balance.balance
        assert history[0].balance == money.quantize(evolution_value(FREE, HISTORY_START), 4)
        by_day = {h.balance_date: h.raw_data for h in history}
        assert by_day[DEPOSIT_DAY]["inflows"] == Decimal("5000.00000000")
        assert by_day[WITHDRAWAL_DAY]["inflows"] == Decimal("-1250.5")
        assert by_day[FEE_DAY]["fees"] == Decimal("-31.41592653")
        assert by_day[FEE_DAY]["vEnd"] == evolution_value(FREE, FEE_DAY)
        assert str(by_day[FEE_DAY]["vEnd"]).endswith(str(evolution_value(FREE, FEE_DAY))[-8:])

        positions = {p.symbol: p for p in tw.get_positions(FREE)}
        gold = positions["ZGLD"]
        assert (gold.isin, gold.quantity, gold.price_per_unit, gold.market_value) == (
            "CH0139101593",
            Decimal("12"),
            Decimal("512.80"),
            Decimal("6153.60"),
        )
        assert positions["CSBGC0"].asset_class == "fixed_income"
        assert positions["ZGLD"].asset_class == "commodity"
    assert fake.logouts == 1
    evolutions = [r for r in fake.requests if r.path.endswith("/evolution")]
    assert len(evolutions) == 1 and evolutions[0].query == {}  # no parameters: all of it
    assert_no_secret(caplog.text)


def test_history_is_read_once_per_portfolio_and_cut_to_the_range(fake: FakeTrueWealth) -> None:
    with integration(fake) as tw:
        june = tw.get_historical_balances(PILLAR, date(2024, 6, 10), date(2024, 6, 30))
        march = tw.get_historical_balances(PILLAR, date(2024, 3, 1), date(2024, 3, 1))
    assert [h.balance_date.day for h in june] == [10, 11, 12, 13, 14]
    assert [h.balance_date for h in march] == [date(2024, 3, 1)]
    assert len([p for p in fake.paths() if p.endswith("/evolution")]) == 1


def test_login_sends_the_header_set_the_xsrf_pair_and_the_totp_code(fake: FakeTrueWealth) -> None:
    with integration(fake) as tw:
        tw.authenticate()
    assert fake.paths()[:3] == ["/app/login", "/api/public/authCheck", "/api/auth/login"]
    login = login_requests(fake)[0]
    body = login.json()
    assert (body["loginId"], body["password"]) == (USERNAME, PASSWORD)
    assert pyotp.TOTP(TOTP_SECRET).verify(body["token"], valid_window=1)
    headers = login.headers
    assert headers["x-client-version"].startswith("v")
    assert headers["x-requested-with"] == "XMLHttpRequest"
    assert headers["user-agent"].startswith("Mozilla/")
    assert headers["origin"] == fake.base_url and headers["accept"] == "*/*"
    assert f"__Host-XSRF-Token={headers['x-xsrf-token']}" in headers["cookie"]


@pytest.mark.parametrize("status", [200, 204])
def test_login_answered_with_an_empty_200_or_204_succeeds(
    fake: FakeTrueWealth, status: int
) -> None:
    fake.login_status = status
    with integration(fake) as tw:
        assert tw.authenticate().success
        assert len(tw.get_accounts()) == 2


def test_reads_log_in_first_when_nobody_did(fake: FakeTrueWealth) -> None:
    with integration(fake) as tw:
        assert len(tw.get_accounts()) == 2
    assert fake.paths()[2:4] == ["/api/auth/login", "/api/user/fees/customer-fee-schedules"]


def test_the_fake_refuses_a_client_without_the_header_set_or_xsrf_pair(
    fake: FakeTrueWealth,
) -> None:
    """The fake refuses what the service refuses, so the tests above prove the headers."""
    import httpx

    with httpx.Client(base_url=fake.base_url) as bare:
        answer = bare.get("/api/public/authCheck")
        assert (answer.status_code, answer.content) == (400, b"")
        answer = bare.get(
            "/api/public/authCheck",
            headers={
                "X-Client-Version": "v1",
                "X-Requested-With": "XMLHttpRequest",
                "User-Agent": "Mozilla/5.0",
                "X-XSRF-Token": "A",
                "Cookie": "__Host-XSRF-Token=B",
            },
        )
        assert answer.status_code == 403


# --- refused logins: typed, never retried, without secrets ------------------------------------


def test_wrong_password_401_is_an_authentication_failure(fake: FakeTrueWealth) -> None:
    tw = integration(fake, password="wrong-password-123")
    with tw, pytest.raises(AuthenticationFailed, match="username or password") as caught:
        tw.authenticate()
    assert len(login_requests(fake)) == 1
    assert "wrong-password-123" not in str(caught.value)
    assert_no_secret(str(caught.value))
    assert fake.logouts == 0


def test_totp_refused_403_names_the_secret_and_the_clock(fake: FakeTrueWealth) -> None:
    fake.clock_offset_seconds = 120  # our code is four steps old for the server
    with integration(fake) as tw, pytest.raises(AuthenticationFailed, match="clock") as caught:
        tw.authenticate()
    assert_no_secret(str(caught.value))
    assert len(login_requests(fake)) == 1
    other = pyotp.random_base32()
    with integration(fake, totp_secret=other) as tw, pytest.raises(AuthenticationFailed) as again:
        tw.authenticate()
    assert "one-time code" in str(again.value) and other not in str(again.value)


def test_code_one_step_old_is_still_accepted(fake: FakeTrueWealth) -> None:
    fake.clock_offset_seconds = 30
    with integration(fake) as tw:
        assert tw.authenticate().success


def test_empty_400_is_a_refused_client_not_retried(fake: FakeTrueWealth) -> None:
    fake.blocked = True
    with integration(fake) as tw, pytest.raises(AuthenticationFailed, match="HTTP 400"):
        tw.authenticate()
    assert len(login_requests(fake)) == 1


def test_rate_limited_login_is_temporary_and_not_retried(fake: FakeTrueWealth) -> None:
    fake.rate_limited = True
    with integration(fake) as tw, pytest.raises(TemporarilyUnavailable, match="429"):
        tw.authenticate()
    assert len(login_requests(fake)) == 1


def test_invalid_secret_fails_before_anything_is_sent(fake: FakeTrueWealth) -> None:
    for bad in ("NOT-BASE32-189", "JBSWY3DP"):  # not base32; too short
        tw = integration(fake, totp_secret=bad)
        with tw, pytest.raises(AuthenticationFailed, match="base32") as caught:
            tw.authenticate()
        assert bad not in str(caught.value)
    assert fake.requests == []


def test_secret_as_people_copy_it_with_spaces_and_lower_case(fake: FakeTrueWealth) -> None:
    spaced = " ".join(TOTP_SECRET[i : i + 4] for i in range(0, 32, 4)).lower()
    with integration(fake, totp_secret=spaced) as tw:
        assert tw.authenticate().success


def test_server_error_at_login_is_temporary_and_not_retried(fake: FakeTrueWealth) -> None:
    with integration(fake) as tw:
        tw.warm_up()
        fake.inject(Fault("status", 503))
        with pytest.raises(TemporarilyUnavailable):
            tw.authenticate()
    assert len(login_requests(fake)) == 1


def test_warm_up_is_retried_after_a_dropped_connection(fake: FakeTrueWealth) -> None:
    fake.inject(Fault("drop"))
    with integration(fake) as tw:
        assert tw.authenticate().success
    assert fake.paths()[:2] == ["/app/login", "/app/login"]


def test_slow_login_times_out_once(fake: FakeTrueWealth) -> None:
    with integration(fake) as tw:
        tw.warm_up()
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
        assert tw.get_balance(PILLAR).balance == Decimal("7306.1000")
    assert len([p for p in fake.paths() if p.endswith("/performanceSummary")]) == 3


def test_retries_exhausted_is_temporarily_unavailable(fake: FakeTrueWealth) -> None:
    with logged_in(fake) as tw:
        fake.inject(*[Fault("status", 502)] * 3)
        with pytest.raises(TemporarilyUnavailable, match="gave up after 3 attempts"):
            tw.get_balance(FREE)


@pytest.mark.parametrize("kind", ["html", "truncate", "garbage"])
def test_answers_that_are_not_json_are_malformed(fake: FakeTrueWealth, kind: str) -> None:
    with logged_in(fake) as tw:
        fake.inject(Fault(kind))
        with pytest.raises(MalformedAnswer, match="other than JSON") as caught:
            tw.get_historical_balances(FREE, date(2024, 1, 1), date(2024, 6, 14))
    assert_no_secret(str(caught.value))


def test_unknown_portfolio_is_reported(fake: FakeTrueWealth) -> None:
    with logged_in(fake) as tw, pytest.raises(MalformedAnswer, match="404"):
        tw.get_balance("999")


def test_ended_session_is_an_authentication_failure(fake: FakeTrueWealth) -> None:
    with logged_in(fake) as tw:
        fake.sessions.clear()
        with pytest.raises(AuthenticationFailed, match="session"):
            tw.get_accounts()


def test_holdings_never_fail_the_sync(fake: FakeTrueWealth) -> None:
    with logged_in(fake) as tw:
        fake.holdings_as_list = True
        assert len(tw.get_positions(FREE)) == 3  # the other shape the original accepts
        fake.holdings_broken = True
        assert tw.get_positions(FREE) == []
        fake.holdings_broken = False
        fake.inject(Fault("html"))
        assert tw.get_positions(FREE) == []
        assert tw.get_balance(FREE).balance == Decimal("48211.5387")


def test_repr_and_errors_carry_no_secret(fake: FakeTrueWealth) -> None:
    tw = integration(fake)
    assert_no_secret(repr(tw))
    tw.warm_up()
    fake.inject(*[Fault("status", 500)] * 3)
    with pytest.raises(TemporarilyUnavailable) as caught:
        tw.get_accounts()
    assert_no_secret(str(caught.value))
    tw.close()


# --- credentials and mapping, directly ---------------------------------------------------------


def test_catalogue_schema_validates_the_totp_secret_as_base32() -> None:
    schema = CATALOGUE["credential_schema"]
    assert validate_credentials(schema, CREDENTIALS) == CREDENTIALS
    spaced = CREDENTIALS | {"totp_secret": "jbsw y3dp ehpk 3pxp jbsw y3dp ehpk 3pxp"}
    assert validate_credentials(schema, spaced) == spaced
    # 16 characters are 80 bits: pyotp computes no code from fewer than 112, so the sync
    # would fail later; refused when stored.
    with pytest.raises(CredentialsInvalid, match="totp_secret: is too short: 80 bits"):
        validate_credentials(schema, CREDENTIALS | {"totp_secret": "jbsw y3dp ehpk 3pxp"})
    for bad in ("JBSWY3DP", "JBSWY3DPEHPK3PX1", "JBSWY3DPEHPK3PXPA", "not base32 1!"):
        with pytest.raises(CredentialsInvalid, match="totp_secret: has the wrong format") as c:
            validate_credentials(schema, CREDENTIALS | {"totp_secret": bad})
        assert bad not in str(c.value)
    assert type(build_integration(BrokerConfig.from_row(CATALOGUE), CREDENTIALS)) is (
        TrueWealthIntegration
    )


def test_fee_schedules_give_distinct_portfolios() -> None:
    accounts = parse_portfolios([{"portfolioId": 1}, {"portfolioId": "1"}, {"portfolioId": 2}])
    assert [a.identifier for a in accounts] == ["1", "2"]
    with (
        pytest.raises(MalformedAnswer, match="portfolioId"),
        webapi.reading("True Wealth", "the fee schedules", str),
    ):
        parse_portfolios([{"id": 1}])


def test_evolution_keeps_every_decimal_in_raw_data() -> None:
    payload = money.loads_json(
        '{"currency": "CHF", "performance": ['
        '{"date": "2024-03-05", "vStart": 1, "vEnd": 100.12345678, "inflows": -0.00000001,'
        ' "fees": 0, "netReturn": 0.5},'
        '{"date": "2024-03-01", "vEnd": 99.5}, {"date": "2024-03-10", "vEnd": 9}]}'
    )
    history = parse_evolution(payload, date(2024, 3, 1), date(2024, 3, 5))
    assert [(h.balance_date.day, h.balance) for h in history] == [
        (1, Decimal("99.5000")),
        (5, Decimal("100.1235")),
    ]
    assert history[1].raw_data == {
        "date": "2024-03-05",
        "vStart": Decimal("1"),
        "vEnd": Decimal("100.12345678"),
        "inflows": Decimal("-1E-8"),
        "fees": Decimal("0"),
        "netReturn": Decimal("0.5"),
    }


def test_zeros_before_the_first_contribution_are_no_balance() -> None:
    payload = {
        "currency": "CHF",
        "performance": [
            {"date": "2024-01-03", "vEnd": 0},  # emptied: a real zero
            {"date": "2024-01-01", "vEnd": 0},  # before the first contribution
            {"date": "2024-01-02", "vEnd": Decimal("100.239876543"), "inflows": 100},
        ],
    }
    history = parse_evolution(payload, date(2024, 1, 1), date(2024, 1, 31))
    assert [(h.balance_date.day, h.balance) for h in history] == [
        (2, Decimal("100.2399")),
        (3, Decimal("0.0000")),
    ]
    assert (
        parse_evolution({"performance": [{"date": "2024-01-01", "vEnd": 0}]}, date.min, date.max)
        == []
    )


def test_answers_missing_fields_or_with_floats_are_malformed() -> None:
    with (
        pytest.raises(MalformedAnswer, match="without the field 'performance'"),
        webapi.reading("True Wealth", "the evolution", str),
    ):
        parse_evolution({"currency": "CHF"}, date(2024, 1, 1), date(2024, 1, 2))
    with (
        pytest.raises(MalformedAnswer, match="float"),
        webapi.reading("True Wealth", "the holdings", str),
    ):
        parse_holdings([{"name": "x", "units": 1.5, "value": 1}])


def test_holdings_accept_both_unconfirmed_shapes() -> None:
    row = {"ticker": "T", "name": "N", "units": Decimal("0.123456789"), "value": 2}
    assert parse_holdings([row]) == parse_holdings({"holdings": [row]})
    [position] = parse_holdings([row])
    assert (position.symbol, position.quantity, position.asset_class) == (
        "T",
        Decimal("0.12345679"),
        "other",
    )


def test_totp_code_is_six_digits() -> None:
    code = totp_code(TOTP_SECRET)
    assert len(code) == 6 and code.isdigit()


# --- cash flows: the evolution's inflows and fees -----------------------------------------------


def test_inflows_and_fees_become_cash_flows(fake: FakeTrueWealth) -> None:
    portfolio = "677155"
    with logged_in(fake) as tw:
        assert tw.supports_cash_flows()
        span = tw.cash_flow_span(portfolio, date(2023, 1, 1), date(2024, 6, 14))
        flows = tw.get_cash_flows(portfolio, date(2023, 1, 1), date(2024, 6, 14))
        balances = tw.get_historical_balances(portfolio, date(2023, 1, 1), date(2024, 6, 14))
    assert span == (HISTORY_START, date(2024, 6, 14))  # the zeros before are no coverage
    assert [(f.flow_date, f.kind, f.amount) for f in flows] == [
        (DEPOSIT_DAY, "deposit", Decimal("5000.0000")),
        (FEE_DAY, "fee", Decimal("-31.4159")),
        (WITHDRAWAL_DAY, "withdrawal", Decimal("-1250.5000")),
    ]
    assert flows[1].raw_data == {"date": FEE_DAY.isoformat(), "fees": Decimal("-31.41592653")}
    assert len({f.external_id for f in flows}) == 3 and all(f.currency == "CHF" for f in flows)
    # one evolution answer serves the history and the flows
    assert len([p for p in fake.paths() if p.endswith("/evolution")]) == 1
    assert balances[0].balance_date == HISTORY_START
