"""Morgan Stanley at Work: a pasted browser JWT, one GraphQL query for the vested (and, when
asked, unvested) value and holdings, and a clear "paste a fresh token" when it expires.

Against the local fake GraphQL endpoint (`tests/fakes/morganstanley.py`).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from tests.fakes.morganstanley import FakeMorganStanley, unvested_value, vested_value
from tests.fakes.server import Fault
from wealth_pipeline import http
from wealth_pipeline.brokers import morganstanley
from wealth_pipeline.brokers.base import (
    AuthenticationFailed,
    BrokerConfig,
    IntegrationContext,
    MalformedAnswer,
    TemporarilyUnavailable,
)
from wealth_pipeline.brokers.catalogue import read_fixture, validate_credentials
from wealth_pipeline.brokers.morganstanley import (
    MorganStanleyIntegration,
    SessionExpired,
    check_token,
    graphql_error,
    parse_positions,
    token_expiry,
)
from wealth_pipeline.brokers.registry import build_integration

EMPLOYEE = "E1234567"
CONTEXT = IntegrationContext(
    timeout_seconds=0.5,
    retry=http.Retry(max_attempts=3, backoff_seconds=0.01),
    poll_interval_seconds=0.01,
    two_fa_wait_seconds=0.1,
    today=date(2024, 6, 14),
)
CATALOGUE = next(entry for entry in read_fixture() if entry["code"] == "morganstanley")


@pytest.fixture(scope="session")
def ms_server() -> Iterator[FakeMorganStanley]:
    server = FakeMorganStanley().start()
    yield server
    server.stop()


@pytest.fixture
def fake(ms_server: FakeMorganStanley) -> Iterator[FakeMorganStanley]:
    ms_server.reset()
    yield ms_server
    ms_server.reset()


def integration(fake: FakeMorganStanley, **credentials: Any) -> MorganStanleyIntegration:
    values = {"jwt": fake.make_jwt(EMPLOYEE), "employee_id": EMPLOYEE} | credentials
    values = validate_credentials(CATALOGUE["credential_schema"], values)
    broker = BrokerConfig.from_row({**CATALOGUE, "api_base_url": fake.url})
    built = build_integration(broker, values, CONTEXT)
    assert isinstance(built, MorganStanleyIntegration)
    return built


def assert_needs_fresh_token(error: SessionExpired, token: str) -> None:
    assert error.needs_person and isinstance(error, AuthenticationFailed)
    assert error.auth.success is False and error.auth.error_message == str(error)
    assert "paste" in str(error) and "atwork.morganstanley.com" in str(error)
    assert token not in str(error) and token.split(".")[2] not in str(error)


# --- the happy path -------------------------------------------------------------------------


def test_vested_value_is_the_balance_and_one_query_serves_the_run(fake: FakeMorganStanley) -> None:
    token = fake.make_jwt(EMPLOYEE)
    with integration(fake, jwt=token) as ms:
        assert ms.authenticate().success
        [account] = ms.get_accounts()
        assert (account.identifier, account.account_type, account.currency) == (
            EMPLOYEE,
            "brokerage",
            "USD",
        )
        balance = ms.get_balance(EMPLOYEE)
        assert balance.balance == vested_value() == Decimal("29140.70")
        assert balance.available_balance == balance.balance
        assert (balance.currency, balance.balance_date) == ("USD", date(2024, 6, 14))
        assert balance.raw_data is not None
        assert balance.raw_data["portfolio"]["unavailableValue"] == unvested_value()
        assert token not in json.dumps(balance.raw_data, default=str)

        [position] = ms.get_positions(EMPLOYEE)
        assert (position.symbol, position.quantity, position.market_value) == (
            "ACME",
            Decimal("155.5"),
            Decimal("29140.70"),
        )
        assert (position.price_per_unit, position.asset_class, position.currency) == (
            Decimal("187.40"),
            "equity",
            "USD",
        )
        assert not ms.supports_historical_data()
        assert ms.get_historical_balances(EMPLOYEE, date(2024, 1, 1), date(2024, 6, 14)) == []
    [request] = fake.requests
    assert request.headers["authorization"] == f"Bearer {token}"
    assert request.headers["employeeid"] == EMPLOYEE
    assert "availableValue" in request.json()["query"]


def test_unvested_awards_count_when_asked(fake: FakeMorganStanley) -> None:
    with integration(fake, include_unvested=True) as ms:
        balance = ms.get_balance(EMPLOYEE)
        assert balance.balance == Decimal("44132.70") == vested_value() + unvested_value()
        assert balance.available_balance == vested_value()
        [position] = ms.get_positions(EMPLOYEE)
        assert position.quantity == Decimal("235.5")
        assert position.market_value == balance.balance


def test_token_pasted_with_the_word_bearer_still_works(fake: FakeMorganStanley) -> None:
    """The schema refuses it; credentials stored before that rule still sync."""
    broker = BrokerConfig.from_row({**CATALOGUE, "api_base_url": fake.url})
    credentials = {"jwt": "Bearer " + fake.make_jwt(EMPLOYEE), "employee_id": EMPLOYEE}
    with MorganStanleyIntegration(broker, credentials, CONTEXT) as ms:
        assert ms.authenticate().success


def test_catalogue_defaults_and_registry() -> None:
    schema = CATALOGUE["credential_schema"]
    credentials = validate_credentials(schema, {"jwt": "a.b.c", "employee_id": EMPLOYEE})
    assert credentials["include_unvested"] is False
    assert CATALOGUE["integration_type"] == "graphql"
    built = build_integration(BrokerConfig.from_row(CATALOGUE), credentials)
    assert type(built) is MorganStanleyIntegration and built.secret_fields == ("jwt",)


# --- expired or refused tokens: a person must paste a fresh one --------------------------------


def test_expired_token_is_refused_before_anything_is_sent(fake: FakeMorganStanley) -> None:
    token = fake.make_jwt(EMPLOYEE, expires_in=-10)
    ms = integration(fake, jwt=token)
    with pytest.raises(SessionExpired, match="expired at") as caught:
        ms.authenticate()
    assert_needs_fresh_token(caught.value, token)
    with pytest.raises(SessionExpired):
        ms.get_balance(EMPLOYEE)
    assert fake.requests == []


def test_token_about_to_expire_counts_as_expired() -> None:
    with pytest.raises(SessionExpired):
        check_token(jwt_with({"exp": 1_000_030}), now=1_000_000)
    check_token(jwt_with({"exp": 1_000_090}), now=1_000_000)
    check_token(jwt_with({"sub": "no exp claim"}), now=1_000_000)


def test_session_ended_at_the_service_is_unauthenticated(fake: FakeMorganStanley) -> None:
    token = fake.make_jwt(EMPLOYEE)
    fake.revoked.add(token)
    with integration(fake, jwt=token) as ms, pytest.raises(SessionExpired) as caught:
        ms.authenticate()
    assert_needs_fresh_token(caught.value, token)
    assert len(fake.requests) == 1  # authentication failures are not retried


def test_token_without_expiry_that_the_service_refuses(fake: FakeMorganStanley) -> None:
    token = fake.make_jwt(EMPLOYEE, expires_in=None)
    with integration(fake, jwt=token) as ms, pytest.raises(SessionExpired) as caught:
        ms.get_accounts()
    assert_needs_fresh_token(caught.value, token)


def test_token_signed_by_someone_else_is_a_401(fake: FakeMorganStanley) -> None:
    token = fake.make_jwt(EMPLOYEE, key=b"not the service's key")
    with integration(fake, jwt=token) as ms, pytest.raises(SessionExpired, match="401") as caught:
        ms.authenticate()
    assert_needs_fresh_token(caught.value, token)
    assert len(fake.requests) == 1


def test_text_that_is_not_a_jwt_asks_for_a_fresh_one() -> None:
    with pytest.raises(SessionExpired, match="not a JWT"):
        token_expiry("just-some-text")
    with pytest.raises(SessionExpired, match="cannot be read"):
        token_expiry("aGVhZGVy.bm90IGpzb24.c2ln")


def test_wrong_employee_id_is_refused(fake: FakeMorganStanley) -> None:
    ms = integration(fake, employee_id="E7654321")
    with ms, pytest.raises(AuthenticationFailed, match="employee ID") as caught:
        ms.authenticate()
    assert not isinstance(caught.value, SessionExpired)


def test_other_employee_ids_are_not_this_account(fake: FakeMorganStanley) -> None:
    with integration(fake) as ms, pytest.raises(MalformedAnswer, match="one account"):
        ms.get_balance("E0000000")


# --- GraphQL errors in HTTP 200, transient failures, malformed answers -----------------------


def test_graphql_internal_error_is_temporary(fake: FakeMorganStanley) -> None:
    fake.graphql_errors.append(
        {"message": "Downstream timeout", "extensions": {"code": "INTERNAL_SERVER_ERROR"}}
    )
    with integration(fake) as ms, pytest.raises(TemporarilyUnavailable, match="Downstream"):
        ms.authenticate()


def test_unknown_graphql_error_is_reported_without_the_token(fake: FakeMorganStanley) -> None:
    token = fake.make_jwt(EMPLOYEE)
    fake.graphql_errors.append({"message": f"bad token {token} seen"})
    with integration(fake, jwt=token) as ms, pytest.raises(MalformedAnswer) as caught:
        ms.get_accounts()
    assert token not in str(caught.value) and "[redacted]" in str(caught.value)


def test_changed_schema_is_reported(fake: FakeMorganStanley, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(
        morganstanley,
        "PORTFOLIO_QUERY",
        morganstanley.PORTFOLIO_QUERY.replace("vested }", "vested grantDate }"),
    )
    with integration(fake) as ms, pytest.raises(MalformedAnswer, match="API changed"):
        ms.authenticate()


@pytest.mark.parametrize(
    "fault", [Fault("status", 429, headers={"Retry-After": "0"}), Fault("status", 502)]
)
def test_rate_limit_and_server_errors_are_retried(fake: FakeMorganStanley, fault: Fault) -> None:
    fake.inject(fault, fault)
    with integration(fake) as ms:
        assert ms.get_balance(EMPLOYEE).balance == vested_value()
    assert len(fake.requests) == 3


def test_retries_exhausted_is_temporarily_unavailable(fake: FakeMorganStanley) -> None:
    fake.inject(*[Fault("status", 503)] * 3)
    with integration(fake) as ms, pytest.raises(TemporarilyUnavailable, match="gave up"):
        ms.get_accounts()


def test_slow_answers_are_retried_then_given_up(fake: FakeMorganStanley) -> None:
    fake.inject(Fault("slow", seconds=0.8))
    with integration(fake) as ms:
        assert ms.authenticate().success
    fake.inject(*[Fault("slow", seconds=0.8)] * 3)
    with integration(fake) as ms, pytest.raises(TemporarilyUnavailable, match="timed out"):
        ms.authenticate()


@pytest.mark.parametrize("kind", ["html", "truncate", "garbage"])
def test_answers_that_are_not_json_are_malformed(fake: FakeMorganStanley, kind: str) -> None:
    fake.inject(Fault(kind))
    with integration(fake) as ms, pytest.raises(MalformedAnswer, match="other than JSON"):
        ms.get_accounts()


def test_answer_without_portfolio_is_malformed(fake: FakeMorganStanley) -> None:
    fake.inject(Fault("garbage", body=b'{"data": {"portfolio": null}}'))
    with integration(fake) as ms, pytest.raises(MalformedAnswer, match="portfolio"):
        ms.get_accounts()


# --- the mapping, directly ----------------------------------------------------------------------


def jwt_with(claims: dict[str, Any]) -> str:
    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'HS256'})}.{part(claims)}.c2lnbmF0dXJl"


def test_token_expiry_reads_the_exp_claim() -> None:
    assert token_expiry(jwt_with({"exp": 1718000000})) == 1718000000
    assert token_expiry(jwt_with({"exp": "soon"})) is None


def test_positions_merge_lots_and_leave_out_unvested_ones() -> None:
    portfolio = {
        "currency": "USD",
        "holdings": [
            {"symbol": "acme", "name": "Acme", "quantity": 1, "price": 10, "value": 10},
            {"symbol": "ACME", "name": "Acme", "quantity": Decimal("0.5"), "value": 5},
            {"symbol": "ACME", "name": "Acme", "quantity": 2, "value": 20, "vested": False},
            {"symbol": "OPT", "name": "Options", "quantity": 3, "value": 0, "vested": False},
        ],
    }
    [vested] = parse_positions(portfolio, include_unvested=False)
    assert (vested.quantity, vested.market_value) == (Decimal("1.5"), Decimal("15"))
    everything = parse_positions(portfolio, include_unvested=True)
    assert [(p.symbol, p.quantity) for p in everything] == [
        ("ACME", Decimal("3.5")),
        ("OPT", Decimal("3")),
    ]


def test_graphql_error_codes_map_to_typed_errors() -> None:
    assert isinstance(graphql_error([{"extensions": {"code": "UNAUTHENTICATED"}}]), SessionExpired)
    assert isinstance(
        graphql_error([{"extensions": {"code": "SERVICE_UNAVAILABLE"}}]), TemporarilyUnavailable
    )
    assert isinstance(graphql_error("not a list"), MalformedAnswer)
