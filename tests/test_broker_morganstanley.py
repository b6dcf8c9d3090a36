"""Morgan Stanley at Work: the raw JWT in `authorization` and the employee PK in `employeeid`,
money objects read as Decimal, a wrong employee id (500) reported as such and not retried, a
token that ends before the sync asks for a fresh one at once, and a token renewed through the
tokens endpoint while a sync runs.

Against the local fake (`tests/support/fakes/morganstanley.py`, which cites the source of each shape).
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from tests.support.fakes.morganstanley import (
    ACCOUNT_PK,
    AVAILABLE,
    EMPLOYEE_PK,
    TOTAL,
    UNAVAILABLE,
    FakeMorganStanley,
)
from tests.support.fakes.server import Fault
from wealth_pipeline import http
from wealth_pipeline.brokers import webapi
from wealth_pipeline.brokers.base import (
    AuthenticationFailed,
    BrokerConfig,
    IntegrationContext,
    MalformedAnswer,
    TemporarilyUnavailable,
)
from wealth_pipeline.brokers.catalogue import CredentialsInvalid, read_fixture, validate_credentials
from wealth_pipeline.brokers.morganstanley import (
    MorganStanleyIntegration,
    SessionExpired,
    check_token,
    graphql_error,
    parse_holdings,
    renewed_token,
    token_expiry,
)
from wealth_pipeline.brokers.registry import build_integration

CONTEXT = IntegrationContext(
    timeout_seconds=0.4,
    retry=http.Retry(max_attempts=3, backoff_seconds=0.01),
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


def integration(
    fake: FakeMorganStanley, state: bytes | None = None, **credentials: Any
) -> MorganStanleyIntegration:
    values = {"jwt": fake.make_jwt(), "employee_id": EMPLOYEE_PK} | credentials
    values = validate_credentials(CATALOGUE["credential_schema"], values)
    broker = BrokerConfig.from_row({**CATALOGUE, "api_base_url": fake.base_url})
    built = build_integration(broker, values, dataclasses.replace(CONTEXT, state=state))
    assert isinstance(built, MorganStanleyIntegration)
    return built


def graphql(fake: FakeMorganStanley) -> list:
    return [r for r in fake.requests if r.path == "/graphql"]


def renewals(fake: FakeMorganStanley) -> list:
    return [r for r in fake.requests if r.path == "/rest/participant/v2/auth/tokens"]


def assert_needs_fresh_token(error: AuthenticationFailed, *tokens: str) -> None:
    assert isinstance(error, SessionExpired) and error.needs_person
    assert error.auth.success is False and error.auth.error_message == str(error)
    assert "atwork.morganstanley.com" in str(error) and "authorization" in str(error)
    for token in tokens:
        assert token not in str(error) and token.split(".")[2] not in str(error)


# --- the happy path -------------------------------------------------------------------------


def test_vested_value_is_the_balance_from_money_objects(
    fake: FakeMorganStanley, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    token = fake.make_jwt()
    with integration(fake, jwt=token) as ms:
        assert ms.authenticate().success
        [account] = ms.get_accounts()
        assert (account.identifier, account.account_type, account.currency) == (
            EMPLOYEE_PK,
            "brokerage",
            "USD",
        )
        balance = ms.get_balance(EMPLOYEE_PK)
        assert balance.balance == Decimal(AVAILABLE) == balance.available_balance
        assert isinstance(balance.balance, Decimal)
        assert (balance.currency, balance.balance_date) == ("USD", date(2024, 6, 14))
        assert balance.raw_data is not None
        assert balance.raw_data["unavailableValue"]["amount"] == Decimal(UNAVAILABLE)
        assert balance.raw_data["totalValue"]["amount"] == Decimal(TOTAL)  # exact: 5 decimals
        assert ms.get_positions(EMPLOYEE_PK) == []  # the holdings query is a guess: refused
        assert not ms.supports_historical_data()
        assert ms.export_state() is None  # nothing renewed
    [request, holdings] = graphql(fake)
    assert request.headers["authorization"] == token  # raw: no "Bearer "
    assert request.headers["employeeid"] == EMPLOYEE_PK
    body = request.json()
    assert body["operationName"] is None and body["variables"] == {}
    assert "availableValue { amount currency }" in body["query"]
    assert "holdings" in holdings.json()["query"]
    assert renewals(fake) == []
    assert token not in caplog.text and token not in json.dumps(balance.raw_data, default=str)


def test_unvested_awards_count_when_asked(fake: FakeMorganStanley) -> None:
    with integration(fake, include_unvested=True) as ms:
        balance = ms.get_balance(EMPLOYEE_PK)
    assert balance.balance == Decimal("546235.2085")  # 546235.20852 at 4 places
    assert balance.available_balance == Decimal(AVAILABLE)


def test_guessed_holdings_are_read_when_the_service_answers_them(fake: FakeMorganStanley) -> None:
    fake.holdings_supported = True
    with integration(fake) as ms:
        [vested] = ms.get_positions(EMPLOYEE_PK)
    assert (vested.symbol, vested.quantity, vested.price_per_unit, vested.market_value) == (
        "ACME",
        Decimal("1302.5"),
        Decimal("187.62"),
        Decimal("244375.05"),
    )
    with integration(fake, include_unvested=True) as ms:
        [everything] = ms.get_positions(EMPLOYEE_PK)
    assert everything.quantity == Decimal("2911.375")


def test_an_old_catalogue_url_ending_in_graphql_still_works(fake: FakeMorganStanley) -> None:
    broker = BrokerConfig.from_row({**CATALOGUE, "api_base_url": f"{fake.base_url}/graphql"})
    credentials = {"jwt": "Bearer " + fake.make_jwt(), "employee_id": EMPLOYEE_PK}
    with MorganStanleyIntegration(broker, credentials, CONTEXT) as ms:  # stored before the rule
        assert ms.authenticate().success
    assert not graphql(fake)[0].headers["authorization"].startswith("Bearer")


def test_catalogue_schema_says_where_each_value_is_found() -> None:
    schema = CATALOGUE["credential_schema"]
    assert "'authorization' request header" in schema["properties"]["jwt"]["description"]
    assert "'employeeid' request header" in schema["properties"]["employee_id"]["description"]
    assert "15 minutes" in schema["description"]
    with pytest.raises(CredentialsInvalid, match="jwt: has the wrong format"):
        validate_credentials(schema, {"jwt": "Bearer a.b.c", "employee_id": EMPLOYEE_PK})
    assert CATALOGUE["api_base_url"] == "https://atwork.morganstanley.com"
    built = build_integration(
        BrokerConfig.from_row(CATALOGUE), {"jwt": "a.b.c", "employee_id": EMPLOYEE_PK}
    )
    assert type(built) is MorganStanleyIntegration and built.secret_fields == ("jwt",)


# --- the token's life: refused at once, renewed while a sync runs -------------------------------


def test_token_ending_before_the_sync_could_finish_asks_at_once(fake: FakeMorganStanley) -> None:
    for left in (-10, 30):
        token = fake.make_jwt(expires_in=left)
        ms = integration(fake, jwt=token)
        with pytest.raises(SessionExpired) as caught:
            ms.authenticate()
        assert_needs_fresh_token(caught.value, token)
    assert fake.requests == []


def test_token_expiring_during_a_sync_is_renewed_through_the_tokens_endpoint(
    fake: FakeMorganStanley, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    pasted = fake.make_jwt()  # 900 seconds
    ms = integration(fake, jwt=pasted)
    start = ms.now()
    assert ms.authenticate().success
    # Twelve minutes pass (a slow sync, or a second account): three minutes are left.
    fake.clock_offset_seconds = 720
    ms.now = lambda: start + 720
    ms._portfolio = None  # the next read queries again
    assert ms.get_balance(EMPLOYEE_PK).balance == Decimal(AVAILABLE)
    [renewal] = renewals(fake)
    assert renewal.json() == {"authType": "ACCESS_TOKEN", "accessToken": pasted}
    assert renewal.headers["authorization"] == f"Bearer {pasted}"
    [fresh] = fake.issued
    assert graphql(fake)[-1].headers["authorization"] == fresh
    # Eight more minutes: the pasted token is dead, the renewed one still lives.
    fake.clock_offset_seconds = 1200
    ms.now = lambda: start + 1200
    ms._portfolio = None
    assert ms.get_accounts()[0].identifier == EMPLOYEE_PK
    assert len(renewals(fake)) == 1
    state = ms.export_state()
    ms.close()
    assert state is not None and json.loads(state)["jwt"] == fresh
    assert fresh not in caplog.text and pasted not in caplog.text

    # A run started within the renewed token's life uses it instead of the dead pasted one.
    later = integration(fake, state=state, jwt=pasted)
    later.now = lambda: start + 1200
    assert later.authenticate().success
    assert graphql(fake)[-1].headers["authorization"] == fresh
    later.close()


def test_renewal_answered_in_the_flat_shape(fake: FakeMorganStanley) -> None:
    fake.flat_token_answer = True
    ms = integration(fake, jwt=fake.make_jwt(expires_in=200))
    assert ms.authenticate().success
    assert fake.issued and graphql(fake)[-1].headers["authorization"] == fake.issued[-1]
    ms.close()


def test_refused_renewal_asks_for_a_person(fake: FakeMorganStanley) -> None:
    token = fake.make_jwt(foreign=True, expires_in=200)
    ms = integration(fake, jwt=token)
    with pytest.raises(SessionExpired, match="renew") as caught:
        ms.authenticate()
    assert_needs_fresh_token(caught.value, token)
    assert graphql(fake) == []


@pytest.mark.parametrize("as_200", [False, True])
def test_token_the_service_refuses_needs_a_fresh_one(fake: FakeMorganStanley, as_200: bool) -> None:
    fake.expired_as_200 = as_200  # the sources show the refusal both ways
    token = fake.make_jwt(foreign=True)
    with integration(fake, jwt=token) as ms, pytest.raises(SessionExpired) as caught:
        ms.authenticate()
    assert_needs_fresh_token(caught.value, token)
    assert len(graphql(fake)) == 1  # never retried


def test_text_that_is_not_a_jwt_asks_for_a_fresh_one() -> None:
    with pytest.raises(SessionExpired, match="not a readable JWT"):
        token_expiry("just-some-text")
    with pytest.raises(SessionExpired, match="not a readable JWT"):
        token_expiry("aGVhZGVy.bm90IGpzb24.c2ln")


def test_token_expiry_reads_exp_without_verifying(fake: FakeMorganStanley) -> None:
    token = fake.make_jwt(foreign=True, expires_in=500)
    expiry = token_expiry(token)
    assert expiry is not None
    check_token(token, now=expiry - 61)
    with pytest.raises(SessionExpired, match="too soon"):
        check_token(token, now=expiry - 59)


# --- the employee id ----------------------------------------------------------------------------


def test_wrong_employee_id_500_says_check_it_and_is_not_retried(fake: FakeMorganStanley) -> None:
    ms = integration(fake, employee_id=ACCOUNT_PK)  # the token's sub, a classic mistake
    with ms, pytest.raises(AuthenticationFailed, match="check the employee id") as caught:
        ms.authenticate()
    assert not caught.value.needs_person and not caught.value.retryable
    assert len(graphql(fake)) == 1


def test_other_employee_ids_are_not_this_account(fake: FakeMorganStanley) -> None:
    with integration(fake) as ms, pytest.raises(MalformedAnswer, match="one account"):
        ms.get_balance("123")


# --- faults -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fault", [Fault("status", 429, headers={"Retry-After": "0"}), Fault("status", 502)]
)
def test_rate_limit_and_gateway_errors_are_retried(fake: FakeMorganStanley, fault: Fault) -> None:
    fake.inject(fault, fault)
    with integration(fake) as ms:
        assert ms.get_balance(EMPLOYEE_PK).balance == Decimal(AVAILABLE)
    assert len(graphql(fake)) == 3


def test_retries_exhausted_is_temporarily_unavailable(fake: FakeMorganStanley) -> None:
    fake.inject(*[Fault("status", 503)] * 3)
    with integration(fake) as ms, pytest.raises(TemporarilyUnavailable, match="gave up"):
        ms.get_accounts()


def test_slow_answers_are_retried_then_given_up(fake: FakeMorganStanley) -> None:
    fake.inject(Fault("slow", seconds=0.6))
    with integration(fake) as ms:
        assert ms.authenticate().success
    fake.inject(*[Fault("slow", seconds=0.6)] * 3)
    with integration(fake) as ms, pytest.raises(TemporarilyUnavailable, match="timed out"):
        ms.authenticate()


@pytest.mark.parametrize("kind", ["html", "truncate", "garbage"])
def test_answers_that_are_not_json_are_malformed(fake: FakeMorganStanley, kind: str) -> None:
    fake.inject(Fault(kind))
    with integration(fake) as ms, pytest.raises(MalformedAnswer, match="other than JSON"):
        ms.get_accounts()


def test_answer_without_portfolio_or_with_a_bad_amount_is_malformed(
    fake: FakeMorganStanley,
) -> None:
    fake.inject(Fault("garbage", body=b'{"data": {"portfolio": null}}'))
    with integration(fake) as ms, pytest.raises(MalformedAnswer, match="portfolio"):
        ms.get_accounts()
    fake.inject(
        Fault("garbage", body=b'{"data": {"portfolio": {"availableValue": {"amount": "n/a"}}}}')
    )
    with integration(fake) as ms, pytest.raises(MalformedAnswer, match="cannot be read"):
        ms.get_balance(EMPLOYEE_PK)
    number = b'{"data": {"portfolio": {"availableValue": {"amount": 0.10000000000000001}}}}'
    fake.inject(Fault("garbage", body=number))  # a JSON number: read exactly, never a float
    with integration(fake) as ms:
        assert ms.get_balance(EMPLOYEE_PK).raw_data["availableValue"]["amount"] == Decimal(
            "0.10000000000000001"
        )


def test_unknown_graphql_error_is_reported_without_the_token(fake: FakeMorganStanley) -> None:
    token = fake.make_jwt()
    body = json.dumps({"errors": [{"message": f"boom {token}"}]}).encode()
    fake.inject(Fault("garbage", body=body))
    with integration(fake, jwt=token) as ms, pytest.raises(MalformedAnswer) as caught:
        ms.get_accounts()
    assert token not in str(caught.value) and "[redacted]" in str(caught.value)


# --- the mapping, directly ----------------------------------------------------------------------


def test_renewal_answers_in_both_shapes() -> None:
    assert renewed_token({"accessToken": "a.b.c"}) == "a.b.c"
    assert renewed_token({"accessToken": {"accessToken": "a.b.c", "expiresIn": 900}}) == "a.b.c"
    with pytest.raises(MalformedAnswer), webapi.reading("MS", "the token", str):
        renewed_token({"accessToken": {"token": "x"}})


def test_graphql_errors_map_to_typed_errors() -> None:
    assert isinstance(graphql_error([{"message": "invalid token signature"}]), SessionExpired)
    assert isinstance(graphql_error([{"extensions": {"code": "UNAUTHENTICATED"}}]), SessionExpired)
    refused = graphql_error([{"message": "x", "extensions": {"code": "GRAPHQL_VALIDATION_FAILED"}}])
    assert isinstance(refused, MalformedAnswer) and "does not know" in str(refused)
    assert isinstance(graphql_error("not a list"), MalformedAnswer)


def test_holdings_merge_lots_and_leave_out_unvested_ones() -> None:
    def row(quantity: str, value: str, status: str) -> dict[str, Any]:
        return {
            "symbol": "acme",
            "quantity": quantity,
            "marketValue": {"amount": value, "currency": "USD"},
            "vestingStatus": status,
        }

    rows = [
        row("1", "10", "VESTED"),
        row("0.5", "5.00000001", "VESTED"),
        row("2", "20", "UNVESTED"),
    ]
    [vested] = parse_holdings(rows, include_unvested=False)
    assert (vested.symbol, vested.quantity, vested.market_value) == (
        "ACME",
        Decimal("1.5"),
        Decimal("15.0000"),
    )
    [everything] = parse_holdings(rows, include_unvested=True)
    assert everything.quantity == Decimal("3.5")


def test_the_fake_refuses_a_bearer_prefix_and_a_missing_employee_id(
    fake: FakeMorganStanley,
) -> None:
    """The fake refuses what the service refuses, so the tests above prove the headers."""
    import httpx

    token = fake.make_jwt()
    body = {
        "operationName": None,
        "variables": {},
        "query": "{ portfolio { totalValue { amount } } }",
    }
    with httpx.Client(base_url=fake.base_url) as bare:
        prefixed = {"authorization": f"Bearer {token}", "employeeid": EMPLOYEE_PK}
        assert bare.post("/graphql", json=body, headers=prefixed).status_code == 401
        assert bare.post("/graphql", json=body, headers={"authorization": token}).status_code == 400
        raw = {"authorization": token, "employeeid": EMPLOYEE_PK}
        assert bare.post("/graphql", json=body, headers=raw).status_code == 200


def test_resume_session_says_whether_the_token_lives_long_enough(fake: FakeMorganStanley) -> None:
    assert integration(fake).resume_session()
    assert integration(fake, jwt=fake.make_jwt(expires_in=30)).resume_session() is False
    assert fake.requests == []  # nothing is sent to decide
