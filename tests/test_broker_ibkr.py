"""Interactive Brokers Flex Web Service: the two-step download against a local fake that
speaks the protocol, waiting (bounded) only where IBKR says "try again shortly", final
errors asked once, exact Decimals, SUMMARY-only positions, NAV history by range, and the
token (which travels in the query string) never in a message or in raw data.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import date
from decimal import Decimal

import pytest

from tests.support.fakes import ibkr_flex
from tests.support.fakes.ibkr_flex import (
    ACCOUNT,
    EXPIRED_TOKEN,
    PREFIX,
    QUERY_ID,
    SECOND_ACCOUNT,
    TOKEN,
    TWO_ACCOUNT_QUERY_ID,
    FakeIbkrFlex,
)
from tests.support.fakes.server import Fault
from wealth_pipeline import http, money
from wealth_pipeline.brokers import ibkr
from wealth_pipeline.brokers.base import (
    AuthenticationFailed,
    BrokerConfig,
    BrokerError,
    IntegrationContext,
    MalformedAnswer,
    TemporarilyUnavailable,
)
from wealth_pipeline.brokers.ibkr import IbkrFlex
from wealth_pipeline.brokers.registry import build_integration, integration_class

POLL = 0.01
WAIT = 1.0


class Sleeps(list[float]):
    """Stands in for the integration's pause: records it instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture(scope="session")
def flex_server() -> Iterator[FakeIbkrFlex]:
    with FakeIbkrFlex() as server:
        yield server


@pytest.fixture
def flex(flex_server: FakeIbkrFlex) -> Iterator[FakeIbkrFlex]:
    flex_server.reset()
    yield flex_server
    flex_server.reset()


def connect(
    flex: FakeIbkrFlex,
    token: str = TOKEN,
    query_id: str = QUERY_ID,
    wait: float = WAIT,
    timeout: float = 0.5,
) -> IbkrFlex:
    broker = BrokerConfig(
        code="ibkr",
        name="Interactive Brokers",
        integration_type="rest",
        api_base_url=flex.api_base_url,
    )
    context = IntegrationContext(
        timeout_seconds=timeout,
        retry=http.Retry(max_attempts=3, backoff_seconds=0.01),
        poll_interval_seconds=POLL,
        two_fa_wait_seconds=wait,
    )
    integration = build_integration(broker, {"flex_token": token, "query_id": query_id}, context)
    assert isinstance(integration, IbkrFlex)
    integration.sleep = Sleeps()
    return integration


def fail(integration: IbkrFlex, error: type[BrokerError]) -> BrokerError:
    """The error of the first call, checked to be free of the token."""
    with pytest.raises(error) as caught:
        integration.get_balance(ACCOUNT)
    assert_no_secret(str(caught.value), repr(caught.value), repr(integration))
    return caught.value


def assert_no_secret(*texts: object) -> None:
    for text in texts:
        dumped = text if isinstance(text, str) else json.dumps(text, default=str)
        assert TOKEN not in dumped
        assert EXPIRED_TOKEN not in dumped


# --- the happy path -----------------------------------------------------------------------


def test_registered_for_ibkr() -> None:
    assert integration_class("ibkr") is IbkrFlex
    assert IbkrFlex.secret_fields == ("flex_token",)


def test_one_download_serves_accounts_balance_positions_and_history(flex: FakeIbkrFlex) -> None:
    integration = connect(flex)
    assert integration.authenticate().success
    assert integration.get_accounts() == [
        ibkr.AccountInfo(ACCOUNT, f"Interactive Brokers {ACCOUNT}", "brokerage", "EUR")
    ]
    integration.get_balance(ACCOUNT)
    integration.get_positions(ACCOUNT)
    integration.get_historical_balances(ACCOUNT, date(2024, 1, 1), date(2024, 12, 31))
    # One SendRequest and one GetStatement, with the token, the query, v=3 and a User-Agent.
    assert flex.paths() == [f"{PREFIX}/SendRequest", f"{PREFIX}/GetStatement"]
    send, get = flex.requests
    assert (send.arg("t"), send.arg("q"), send.arg("v")) == (TOKEN, QUERY_ID, "3")
    assert get.arg("t") == TOKEN and get.arg("q") and get.arg("v") == "3"
    assert send.headers["user-agent"] == ibkr.USER_AGENT
    assert integration.sleep == [POLL]  # one pause before collecting the statement


def test_balance_is_the_latest_nav_exactly_with_cash_per_currency(flex: FakeIbkrFlex) -> None:
    balance = connect(flex).get_balance(ACCOUNT)
    assert balance.balance == Decimal("31376.06")
    assert isinstance(balance.balance, Decimal)
    assert balance.balance.as_tuple().exponent == -money.AMOUNT_PLACES
    assert (balance.currency, balance.balance_date) == ("EUR", date(2024, 3, 15))
    raw = balance.raw_data
    assert raw is not None
    assert raw["cash_by_currency"] == {"EUR": "8123.45", "USD": "-1250.1", "CHF": "310.07"}
    assert "BASE_SUMMARY" not in raw["cash_by_currency"]
    assert raw["cash_in_base"] == "7297.828014"
    assert raw["nav"]["total"] == "31376.06" and raw["nav"]["bonds"] == "1971.24"
    assert raw["report_date"] == "2024-03-15"
    assert_no_secret(raw)


def test_positions_are_the_summary_rows_only(flex: FakeIbkrFlex) -> None:
    listed = connect(flex).get_positions(ACCOUNT)
    symbols = [p.symbol for p in listed]
    assert symbols == ["AAPL", "VWRL", "NESN", "DBR 1 08/15/24", "GBP"]  # no LOT rows
    positions = {p.symbol: p for p in listed}
    aapl = positions["AAPL"]
    assert (aapl.quantity, aapl.price_per_unit, aapl.market_value, aapl.cost_basis) == (
        Decimal("25"),
        Decimal("172.62"),
        Decimal("4315.5"),
        Decimal("3710.25"),
    )
    assert (aapl.currency, aapl.isin, aapl.name, aapl.asset_class) == (
        "USD",
        "US0378331005",
        "APPLE INC",
        "equity",
    )
    etf = positions["VWRL"]
    assert etf.quantity == Decimal("120.5") and etf.market_value == Decimal("13536.97")
    assert etf.asset_class == "fund" and etf.currency == "EUR"
    assert positions["NESN"].currency == "CHF"
    bond = positions["DBR 1 08/15/24"]
    assert bond.asset_class == "fixed_income"
    assert bond.price_per_unit == Decimal("0.98562")  # percent of par, per unit of face value
    assert bond.quantity * bond.price_per_unit == bond.market_value
    assert positions["GBP"].asset_class == "cash"
    for position in positions.values():
        for value in (position.quantity, position.price_per_unit, position.market_value):
            assert isinstance(value, Decimal)
    # The summary rows add up to what the lots say.
    summary_total = sum(Decimal(h.value) for h in ibkr_flex.HOLDINGS if h.lots)
    lots_total = sum(Decimal(lot[1]) for h in ibkr_flex.HOLDINGS for lot in h.lots)
    assert summary_total == lots_total


def test_history_is_the_daily_nav_within_the_range(flex: FakeIbkrFlex) -> None:
    integration = connect(flex)
    assert integration.supports_historical_data()
    expected = ibkr_flex.nav_history()
    history = integration.get_historical_balances(ACCOUNT, date(2024, 3, 1), date(2024, 3, 10))
    days = [b.balance_date for b in history]
    assert days == [day for day in expected if date(2024, 3, 1) <= day <= date(2024, 3, 10)]
    assert days[0] == date(2024, 3, 1) and days[-1] == date(2024, 3, 8)  # business days
    for balance in history:
        assert balance.balance == Decimal(expected[balance.balance_date]["total"])
        assert balance.currency == "EUR"
        assert_no_secret(balance.raw_data)
    everything = integration.get_historical_balances(ACCOUNT, date(2000, 1, 1), date(2030, 1, 1))
    assert len(everything) == len(expected) >= 30  # up to the statement's own range
    assert everything[-1].balance == Decimal("31376.06")
    assert integration.get_historical_balances(ACCOUNT, date(2023, 1, 1), date(2023, 12, 31)) == []
    assert flex.count("SendRequest") == 1


def test_a_query_with_two_accounts(flex: FakeIbkrFlex) -> None:
    integration = connect(flex, query_id=TWO_ACCOUNT_QUERY_ID)
    accounts = integration.get_accounts()
    assert [(a.identifier, a.currency) for a in accounts] == [
        (ACCOUNT, "EUR"),
        (SECOND_ACCOUNT, "USD"),
    ]
    assert accounts[0].name == f"Interactive Brokers {ACCOUNT} (Main)"
    assert integration.get_balance(SECOND_ACCOUNT).currency == "USD"
    assert (
        len(
            integration.get_historical_balances(
                SECOND_ACCOUNT, date(2024, 1, 1), date(2024, 12, 31)
            )
        )
        == 8
    )
    with pytest.raises(MalformedAnswer, match="no account U0000000"):
        integration.get_balance("U0000000")
    assert flex.count("SendRequest") == 1


# --- waiting where IBKR says "try again shortly" ------------------------------------------


def test_generation_in_progress_is_polled_until_ready(flex: FakeIbkrFlex) -> None:
    flex.script("GetStatement", "1019", "1019", "1019")
    integration = connect(flex)
    assert integration.get_balance(ACCOUNT).balance == Decimal("31376.06")
    assert flex.count("SendRequest") == 1 and flex.count("GetStatement") == 4
    # Before collecting, then doubling pauses (IBKR allows ten requests a minute).
    assert integration.sleep == pytest.approx([POLL, POLL, 2 * POLL, 4 * POLL])


@pytest.mark.parametrize("code", ["1009", "1001", "1021"])
def test_busy_codes_are_retried_at_either_step(flex: FakeIbkrFlex, code: str) -> None:
    flex.script("SendRequest", code)
    flex.script("GetStatement", code)
    assert connect(flex).get_balance(ACCOUNT).balance == Decimal("31376.06")
    assert flex.count("SendRequest") == 2 and flex.count("GetStatement") == 2


def test_too_many_requests_pauses_longer(flex: FakeIbkrFlex) -> None:
    flex.script("SendRequest", "1018")
    integration = connect(flex)
    integration.get_accounts()
    assert flex.count("SendRequest") == 2
    assert integration.sleep == [POLL * ibkr.RATE_LIMIT_PAUSE_FACTOR, POLL]


def test_waiting_is_bounded(flex: FakeIbkrFlex) -> None:
    flex.script("GetStatement", *["1019"] * 100)
    integration = connect(flex, wait=0.1)
    error = fail(integration, TemporarilyUnavailable)
    assert "1019" in str(error) and "try again" in str(error)
    assert sum(integration.sleep) <= 0.1 + 1e-9
    # Before collecting 0.01, then 0.01, 0.02, 0.04; the next 0.08 would pass the bound.
    assert integration.sleep == pytest.approx([POLL, POLL, 2 * POLL, 4 * POLL])
    assert flex.count("GetStatement") == 4 and flex.count("SendRequest") == 1


def test_waiting_really_waits_the_poll_interval(flex: FakeIbkrFlex) -> None:
    flex.script("GetStatement", "1019", "1019")
    integration = connect(flex)
    integration.sleep = time.sleep
    started = time.monotonic()
    integration.get_accounts()
    assert time.monotonic() - started >= 3 * POLL


# --- final errors: asked once, said clearly -----------------------------------------------


@pytest.mark.parametrize(
    ("code", "words"),
    [
        ("1012", "has expired"),
        ("1015", "token is invalid"),
        ("1014", "Query ID"),
        ("1013", "IP"),
        ("1016", "account is invalid"),
        ("1010", "Activity Flex Query"),
    ],
)
def test_final_codes_are_not_retried(flex: FakeIbkrFlex, code: str, words: str) -> None:
    flex.script("SendRequest", code)
    integration = connect(flex)
    error = fail(integration, AuthenticationFailed)
    assert words in str(error) and code in str(error)
    assert flex.count("SendRequest") == 1 and flex.count("GetStatement") == 0
    assert integration.sleep == []
    with pytest.raises(AuthenticationFailed):  # the same instance does not ask again
        integration.get_accounts()
    assert flex.count("SendRequest") == 1


def test_expired_and_invalid_tokens_tell_the_user_to_create_a_new_one(
    flex: FakeIbkrFlex,
) -> None:
    error = fail(connect(flex, token=EXPIRED_TOKEN), AuthenticationFailed)
    assert "expired" in str(error) and "Create a new Flex Web Service token" in str(error)
    error = fail(connect(flex, token="000000000000000000000000"), AuthenticationFailed)
    assert "invalid" in str(error) and "Create a new Flex Web Service token" in str(error)
    assert flex.count("SendRequest") == 2 and flex.count("GetStatement") == 0


def test_an_unknown_query_id(flex: FakeIbkrFlex) -> None:
    error = fail(connect(flex, query_id="111"), AuthenticationFailed)
    assert "Query ID" in str(error)
    assert flex.count("SendRequest") == 1


def test_a_final_code_while_collecting_stops_at_once(flex: FakeIbkrFlex) -> None:
    flex.script("GetStatement", "1019", "1012")
    fail(connect(flex), AuthenticationFailed)
    assert flex.count("GetStatement") == 2


def test_an_echoed_token_is_scrubbed(flex: FakeIbkrFlex) -> None:
    flex.script("SendRequest", ("1099", "Token {token} is not allowed here."))
    error = fail(connect(flex), MalformedAnswer)
    assert "1099" in str(error) and "[redacted]" in str(error)
    flex.script("GetStatement", *[("1019", "Still working on {token}")] * 50)
    error = fail(connect(flex, wait=0.05), TemporarilyUnavailable)
    assert "[redacted]" in str(error)


def test_a_fail_without_error_code(flex: FakeIbkrFlex) -> None:
    flex.script("SendRequest", "nocode")
    error = fail(connect(flex), MalformedAnswer)
    assert "without an error code" in str(error)
    assert flex.count("SendRequest") == 1


@pytest.mark.parametrize(
    ("code", "error"), [("1003", TemporarilyUnavailable), ("1017", TemporarilyUnavailable)]
)
def test_codes_for_the_next_run(flex: FakeIbkrFlex, code: str, error: type[BrokerError]) -> None:
    flex.script("GetStatement", code)
    fail(connect(flex), error)
    assert flex.count("GetStatement") == 1


def test_missing_credentials_send_nothing(flex: FakeIbkrFlex) -> None:
    fail(connect(flex, token=""), AuthenticationFailed)
    error = fail(connect(flex, query_id="abc"), AuthenticationFailed)
    assert "Query ID" in str(error)
    assert flex.requests == []


# --- broken answers -----------------------------------------------------------------------


def test_an_html_page_instead_of_xml(flex: FakeIbkrFlex) -> None:
    flex.inject(Fault("html"))
    error = fail(connect(flex), MalformedAnswer)
    assert "web page" in str(error)
    assert flex.count("SendRequest") == 1


def test_a_truncated_statement(flex: FakeIbkrFlex) -> None:
    flex.inject(Fault("slow", seconds=0), Fault("truncate"))
    error = fail(connect(flex), MalformedAnswer)
    assert "incomplete" in str(error)
    assert flex.count("GetStatement") == 1


def test_garbage(flex: FakeIbkrFlex) -> None:
    flex.inject(Fault("garbage"))
    fail(connect(flex), MalformedAnswer)


def test_server_errors_are_retried_then_given_up(flex: FakeIbkrFlex) -> None:
    flex.inject(Fault("status", 500), Fault("status", 503))
    assert connect(flex).get_balance(ACCOUNT).balance == Decimal("31376.06")
    assert flex.count("SendRequest") == 3
    flex.reset()
    flex.inject(*[Fault("status", 500)] * 3)
    error = fail(connect(flex), TemporarilyUnavailable)
    assert "SendRequest" in str(error) and "HTTP 500" in str(error)
    assert flex.count("SendRequest") == 3


def test_a_slow_answer_times_out_and_is_retried(flex: FakeIbkrFlex) -> None:
    flex.inject(Fault("slow", seconds=0.4))
    integration = connect(flex, timeout=0.2)
    assert integration.get_balance(ACCOUNT).balance == Decimal("31376.06")
    assert flex.count("SendRequest") == 2
    time.sleep(0.3)  # let the slow answer finish inside this test


# --- pure parts ---------------------------------------------------------------------------


def test_read_answer() -> None:
    ok = ibkr.read_answer(
        ibkr_flex.status_xml("Success", ReferenceCode="42", Url="https://x/G").encode()
    )
    assert (ok.status, ok.reference_code, ok.url) == ("Success", "42", "https://x/G")
    warn = ibkr.read_answer(ibkr_flex.error_xml("1019").encode())
    assert (warn.status, warn.error_code) == ("Warn", "1019")
    assert warn.error_message.startswith("Statement generation in progress")
    statement = ibkr.read_answer(b"<FlexQueryResponse queryName='q' type='AF'/>")
    assert statement.status == "Statement" and statement.statement is not None
    for body, words in [
        (b"", "empty"),
        (b"<!DOCTYPE html><html><body>Maintenance</body></html>", "web page"),
        (b"<FlexQueryResponse><FlexStatements", "incomplete"),
        (b"<error>nope</error>", "unexpected <error>"),
    ]:
        with pytest.raises(MalformedAnswer, match=words):
            ibkr.read_answer(body)


def test_flex_error_mapping() -> None:
    assert isinstance(ibkr.flex_error("1012", ""), AuthenticationFailed)
    assert isinstance(ibkr.flex_error("1015", ""), AuthenticationFailed)
    assert isinstance(ibkr.flex_error("1017", ""), TemporarilyUnavailable)
    assert isinstance(ibkr.flex_error("", ""), MalformedAnswer)
    assert "code 1234" in str(ibkr.flex_error("1234", "Something new."))
    assert {"1001", "1009", "1018", "1019", "1021"} <= ibkr.WAIT_CODES
    assert not ibkr.WAIT_CODES & {"1012", "1013", "1014", "1015", "1016"}


@pytest.mark.parametrize(
    ("category", "sub", "expected"),
    [
        ("STK", "COMMON", "equity"),
        ("STK", "ETF", "fund"),
        ("FUND", "", "fund"),
        ("BOND", "", "fixed_income"),
        ("BILL", "", "fixed_income"),
        ("CASH", "", "cash"),
        ("CRYPTO", "", "crypto"),
        ("OPT", "", "derivative"),
        ("FUT", "", "derivative"),
        ("FOP", "", "derivative"),
        ("WAR", "", "derivative"),
        ("CMDTY", "", "commodity"),
        ("IOPT", "", "other"),
        (None, None, "other"),
    ],
)
def test_asset_classes(category: str | None, sub: str | None, expected: str) -> None:
    assert ibkr.asset_class(category, sub) == expected


def test_statement_url_never_downgrades() -> None:
    base = "https://ndcdyn.interactivebrokers.com/AccountManagement/FlexWebService"
    good = "https://gdcdyn.interactivebrokers.com/AccountManagement/FlexWebService/GetStatement"
    assert ibkr.statement_url(base, good) == good
    assert ibkr.statement_url(base, "") == f"{base}/GetStatement"
    for bad in (
        "http://gdcdyn.interactivebrokers.com/GetStatement",
        "https://interactivebrokers.com.example.org/GetStatement",
        "https://example.org/GetStatement",
        "ftp://x/y",
        "/relative",
    ):
        with pytest.raises(MalformedAnswer):
            ibkr.statement_url(base, bad)
    assert ibkr.statement_url("http://127.0.0.1:1/x", "http://127.0.0.1:1/x/G?a=b") == (
        "http://127.0.0.1:1/x/G"
    )


def statement_with(position: str) -> bytes:
    statement = (
        '<FlexStatement accountId="U1" fromDate="20240301" toDate="20240301" period="LastBusinessDay" '
        'whenGenerated="20240302;101010">'
        '<AccountInformation accountId="U1" currency="CHF" />'
        f"<OpenPositions>{position}</OpenPositions></FlexStatement>"
    )
    return ibkr_flex.query_response_xml([statement]).encode()


def test_unknown_enum_values_do_not_break_the_statement() -> None:
    xml = statement_with(
        '<OpenPosition accountId="U1" currency="USD" assetCategory="NEWTHING" symbol="ZZZ" '
        'position="3" markPrice="1.5" positionValue="4.5" side="Sideways" code="P;XYZ" '
        'levelOfDetail="SUMMARY" newAttribute="1" />'
    )
    answer = ibkr.read_answer(xml)
    assert answer.statement is not None
    statement = ibkr.parse_statement(answer.statement).FlexStatements[0]
    (position,) = ibkr.summary_positions(statement, "CHF")
    assert (position.symbol, position.asset_class, position.market_value) == (
        "ZZZ",
        "other",
        Decimal("4.5"),
    )
    assert statement.OpenPositions[0].code == (ibkr.enums.Code("P"),)


def test_positions_without_level_of_detail_and_derivative_prices() -> None:
    xml = statement_with(
        '<OpenPosition accountId="U1" currency="USD" assetCategory="OPT" symbol="AAPL 240621C00180000" '
        'multiplier="100" position="2" markPrice="5.2" positionValue="1040" />'
    )
    answer = ibkr.read_answer(xml)
    assert answer.statement is not None
    statement = ibkr.parse_statement(answer.statement).FlexStatements[0]
    (option,) = ibkr.summary_positions(statement, "CHF")
    assert option.price_per_unit == Decimal("520") and option.asset_class == "derivative"
    assert option.isin is None and option.cost_basis is None


def test_a_statement_without_nav_or_currency_is_explained() -> None:
    bare = (
        '<FlexStatement accountId="U1" fromDate="20240301" toDate="20240301" period="LastBusinessDay" '
        'whenGenerated="20240302;101010" />'
    )
    answer = ibkr.read_answer(ibkr_flex.query_response_xml([bare]).encode())
    assert answer.statement is not None
    statement = ibkr.parse_statement(answer.statement).FlexStatements[0]
    with pytest.raises(MalformedAnswer, match="Account Information"):
        ibkr.account_info(statement)
    broken = b'<FlexQueryResponse queryName="q" type="AF"><FlexStatements count="2"></FlexStatements></FlexQueryResponse>'
    answer = ibkr.read_answer(broken)
    assert answer.statement is not None
    with pytest.raises(MalformedAnswer, match="cannot be read"):
        ibkr.parse_statement(answer.statement)


def test_pauses_double_up_to_a_cap() -> None:
    waiter = ibkr._Waiter(interval=3.0, budget=120.0)
    assert [waiter.next_factor() for _ in range(6)] == [1, 2, 4, 8, 8, 8]
    assert ibkr._Waiter(3.0, 120.0).next_factor(rate_limited=True) == 4


# --- cash flows -----------------------------------------------------------------------------


def test_cash_transactions_become_flows_in_the_base_currency(flex: FakeIbkrFlex) -> None:
    integration = connect(flex)
    end = ibkr_flex.STATEMENT_END
    start = end - (ibkr_flex.STATEMENT_END - date(2024, 1, 1))
    flows = integration.get_cash_flows(ACCOUNT, start, end)
    got = {(f.kind, f.amount, f.currency) for f in flows}
    assert got == {
        ("deposit", Decimal("5000.0000"), "EUR"),
        ("dividend", Decimal("39.1000"), "EUR"),  # 42.50 USD x 0.92
        ("tax", Decimal("-5.8696"), "EUR"),  # -6.38 USD x 0.92
        ("fee", Decimal("-10.0000"), "EUR"),
        ("interest", Decimal("3.2100"), "EUR"),
        ("withdrawal", Decimal("-1200.0000"), "EUR"),
    }
    assert len({f.external_id for f in flows}) == 6
    assert all(f.external_id.startswith("ibkr:") for f in flows)
    # the flows are complete for the statement's period only
    first = end - ibkr_flex.timedelta(days=ibkr_flex.HISTORY_DAYS - 1)
    assert integration.cash_flow_span(ACCOUNT, date(2023, 1, 1), end) == (first, end)
    late = integration.get_cash_flows(ACCOUNT, end - ibkr_flex.timedelta(days=6), end)
    assert [f.kind for f in late] == ["withdrawal"]
    assert_no_secret(*[f.raw_data for f in flows], *[f.description for f in flows])
    assert flex.count("SendRequest") == 1  # the one download serves the flows too


def test_a_query_without_cash_transactions_has_no_flow_coverage(flex: FakeIbkrFlex) -> None:
    integration = connect(flex, query_id=ibkr_flex.NO_CASH_QUERY_ID)
    end = ibkr_flex.STATEMENT_END
    assert integration.get_balance(ACCOUNT).balance  # balances still work
    assert integration.cash_flow_span(ACCOUNT, date(2024, 1, 1), end) is None
    with pytest.raises(MalformedAnswer, match="Cash Transactions section"):
        integration.get_cash_flows(ACCOUNT, date(2024, 1, 1), end)
    root = ibkr.ET.fromstring(
        ibkr_flex.query_response_xml([ibkr_flex.statement_xml(cash_transactions=False)])
    )
    statement = ibkr.parse_statement(root).FlexStatements[0]
    assert statement.CashTransactions == ()
    assert ibkr.flow_kind(ibkr.enums.CashAction.DEPOSITWITHDRAW, Decimal("-1")) == "withdrawal"
    assert ibkr.flow_kind(None, Decimal("1")) == "other"
