"""Interactive Brokers through the Flex Web Service (version 3) and an Activity Flex Query.

Two GET requests fetch one statement:
1. `{api_base_url}/SendRequest?t=TOKEN&q=QUERY_ID&v=3` answers a `<FlexStatementResponse>`
   with a reference code and the URL to collect the statement from;
2. `{Url}?t=TOKEN&q=REFERENCE_CODE&v=3` answers the `<FlexQueryResponse>` statement, or a
   `<FlexStatementResponse>` error (1019: still being generated).

Waiting: the codes in `WAIT_CODES` mean "try again shortly"; we pause and ask again. The
pauses start at `poll_interval_seconds` and double up to eight times that (3, 6, 12, 24 s
by default), at least four intervals after 1018: IBKR allows about one request per second
and ten per minute per token, and steady polling would hit that limit. Asking stops when
the pauses would exceed `two_fa_wait_seconds`, the context's bound on waiting for the other
side to get ready; then TemporarilyUnavailable, so a later run tries again. Every other error code is final: a bad
token or query is AuthenticationFailed (a person has to create a new token or fix the query;
asking again would only spend the rate limit).

One statement per integration instance: all accounts, balances, positions and the daily NAV
history come from the same download, which is cached.

The token travels in the query string, so no message carries a URL with its query
(`http.safe_url`), text from answers is scrubbed, and raw data is redacted.

Statements are parsed with `ibflex`. It refuses a whole statement over one enum value it
does not know (IBKR adds asset categories and notes codes over time), so such values are
dropped first and the row is kept: an unknown asset category becomes "other".
"""

from __future__ import annotations

import logging
import time
import warnings
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal
from typing import Any, ClassVar

import httpx
from ibflex import Types, enums, parser

from wealth_pipeline import http, money
from wealth_pipeline.brokers.base import (
    AccountInfo,
    AuthenticationFailed,
    AuthResult,
    BalanceInfo,
    BrokerError,
    BrokerIntegrationBase,
    CashFlowInfo,
    MalformedAnswer,
    PositionInfo,
    TemporarilyUnavailable,
    http_error,
)
from wealth_pipeline.brokers.redact import redact
from wealth_pipeline.brokers.registry import register

log = logging.getLogger(__name__)

SERVICE = "Interactive Brokers"
FLEX_VERSION = "3"
# IBKR refuses requests without a User-Agent.
USER_AGENT = "wealth-pipeline (Flex Web Service client)"
DEFAULT_STATEMENT_PATH = "GetStatement"
TOKEN_HELP = (
    "Create a new Flex Web Service token in IBKR's Client Portal (Performance & Reports > "
    "Flex Queries > Flex Web Service Configuration; a token is valid only for the period "
    "chosen when it was created, 6 hours by default) and update this account's credentials."
)

# "Please try again shortly": worth asking again within the run.
WAIT_CODES = frozenset(
    {
        "1001",  # statement could not be generated at this time
        "1004",  # statement is incomplete at this time
        "1005",  # settlement data is not ready
        "1006",  # FIFO P/L data is not ready
        "1007",  # MTM P/L data is not ready
        "1008",  # MTM and FIFO P/L data is not ready
        "1009",  # the server is under heavy load
        "1018",  # too many requests from this token
        "1019",  # statement generation in progress
        "1021",  # statement could not be retrieved at this time
    }
)
RATE_LIMITED = "1018"
RATE_LIMIT_PAUSE_FACTOR = 4  # pause at least four poll intervals after 1018
MAX_PAUSE_FACTOR = 8  # pauses double up to eight poll intervals

# Final errors a person has to fix: code -> what to tell them.
AUTH_ERRORS = {
    "1010": "The Flex Query is a legacy query, which IBKR no longer serves: create an "
    "Activity Flex Query and enter its Query ID.",
    "1011": "IBKR says the service account is inactive: check the account in Client Portal.",
    "1012": "IBKR says the Flex token has expired. " + TOKEN_HELP,
    "1013": "IBKR refused the request because of the Flex token's IP restriction: allow "
    "this server's IP address in Flex Web Service Configuration, or create a token "
    "without one.",
    "1014": "IBKR says the Flex Query is invalid: check the Query ID (Performance & Reports > "
    "Flex Queries, the number next to your Activity Flex Query).",
    "1015": "IBKR says the Flex token is invalid. " + TOKEN_HELP,
    "1016": "IBKR says the account is invalid for this Flex Query: check that the query "
    "covers the account and that the account is open.",
}
# Final for this run, worth trying again on the next one.
LATER_ERRORS = {
    "1003": "IBKR says the statement is not available (yet)",
    "1017": "IBKR no longer knows the statement's reference code",
}

ASSET_CLASSES_BY_CATEGORY = {
    "STK": "equity",
    "BOND": "fixed_income",
    "BILL": "fixed_income",
    "FUND": "fund",
    "CASH": "cash",
    "CRYPTO": "crypto",
    "CMDTY": "commodity",
    "OPT": "derivative",
    "FUT": "derivative",
    "FOP": "derivative",
    "WAR": "derivative",
    "CFD": "derivative",
    "FXCFD": "derivative",
    "FSFOP": "derivative",
    "FSOPT": "derivative",
}
# Quoted in percent of the face value (position is the face value held).
PERCENT_OF_PAR = frozenset({"BOND", "BILL"})
NAV_COMPONENTS = (
    "cash",
    "stock",
    "bonds",
    "funds",
    "options",
    "commodities",
    "crypto",
    "notes",
    "interestAccruals",
    "dividendAccruals",
    "total",
)
BASE_SUMMARY = "BASE_SUMMARY"


# --- reading answers (pure) -------------------------------------------------------------


@dataclass(frozen=True)
class FlexAnswer:
    """One answer of the Flex Web Service, either a statement or a FlexStatementResponse."""

    status: str  # "Statement", or the response's Status: "Success", "Fail", "Warn"
    statement: ET.Element | None = None
    reference_code: str = ""
    url: str = ""
    error_code: str = ""
    error_message: str = ""


def read_answer(body: bytes) -> FlexAnswer:
    """What an answer says; MalformedAnswer for web pages, truncated or unexpected XML."""
    text = body.strip()
    if not text:
        raise MalformedAnswer(f"{SERVICE} answered an empty page instead of XML")
    if text[:15].lower().startswith((b"<!doctype html", b"<html")):
        raise MalformedAnswer(
            f"{SERVICE} answered a web page instead of XML (maintenance or an outage?)"
        )
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise MalformedAnswer(f"{SERVICE} answered invalid or incomplete XML ({exc})") from None
    if root.tag == "FlexQueryResponse":
        return FlexAnswer(status="Statement", statement=root)
    if root.tag != "FlexStatementResponse":
        raise MalformedAnswer(f"{SERVICE} answered an unexpected <{root.tag[:40]}> document")
    return FlexAnswer(
        status=(root.findtext("Status") or "").strip(),
        reference_code=(root.findtext("ReferenceCode") or "").strip(),
        url=(root.findtext("Url") or "").strip(),
        error_code=(root.findtext("ErrorCode") or "").strip(),
        error_message=" ".join((root.findtext("ErrorMessage") or "").split()),
    )


def flex_error(code: str, message: str) -> BrokerError:
    """The typed error for a final Flex error code (not one of WAIT_CODES)."""
    said = f" ({message})" if message else ""
    if code in AUTH_ERRORS:
        return AuthenticationFailed(f"{AUTH_ERRORS[code]} [IBKR code {code}]")
    if code in LATER_ERRORS:
        return TemporarilyUnavailable(
            f"{LATER_ERRORS[code]} [IBKR code {code}]; the next run asks again"
        )
    if code in WAIT_CODES:
        return TemporarilyUnavailable(f"{SERVICE} is busy [IBKR code {code}]{said}")
    if not code:
        return MalformedAnswer(f"{SERVICE} refused the request without an error code{said}")
    return MalformedAnswer(f"{SERVICE} refused the request [IBKR code {code}]{said}")


def statement_url(api_base_url: str, url: str) -> str:
    """Where to collect the statement: the answer's Url, never downgraded to plain HTTP."""
    if not url:
        return f"{api_base_url.rstrip('/')}/{DEFAULT_STATEMENT_PATH}"
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        raise MalformedAnswer(f"{SERVICE} answered an invalid statement URL") from None
    base = httpx.URL(api_base_url)
    allowed = {"https"} if base.scheme == "https" else {"https", "http"}
    if parsed.scheme not in allowed or not _same_site(parsed.host, base.host):
        # The token goes to this URL: never in clear, never to another site.
        raise MalformedAnswer(
            f"{SERVICE} answered a statement URL this client will not send the token to "
            f"({http.safe_url(parsed)})"
        )
    return str(parsed.copy_with(query=None, fragment=None))


def _same_site(host: str, base_host: str) -> bool:
    """Same host, or a sibling under the same parent (ndcdyn./gdcdyn.interactivebrokers.com)."""
    if not host:
        return False
    if host == base_host:
        return True
    labels, base_labels = host.split("."), base_host.split(".")
    return len(labels) >= 3 and len(base_labels) >= 3 and labels[1:] == base_labels[1:]


# --- parsing statements (pure) ----------------------------------------------------------


def parse_statement(root: ET.Element) -> Types.FlexQueryResponse:
    """The statement as ibflex types; unknown enum values are dropped, not fatal."""
    _normalise_cash_types(root)
    _drop_unknown_enum_values(root)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            parsed = parser.parse_element(root)
    except (parser.FlexParserError, AssertionError, ValueError, TypeError) as exc:
        raise MalformedAnswer(f"{SERVICE} sent a statement that cannot be read: {exc}") from None
    for warning in caught:  # new attributes and sections IBKR added: harmless
        log.debug("ibflex: %s", warning.message)
    if not isinstance(parsed, Types.FlexQueryResponse):
        raise MalformedAnswer(f"{SERVICE} sent a statement without FlexStatements")
    return parsed


# IBKR writes "Deposits/Withdrawals" (the original app's notes); ibflex knows the type as
# "Deposits & Withdrawals": read both.
CASH_TYPE_ALIASES = {"Deposits/Withdrawals": enums.CashAction.DEPOSITWITHDRAW.value}


def _normalise_cash_types(root: ET.Element) -> None:
    for element in root.iter("CashTransaction"):
        kind = element.get("type")
        if kind in CASH_TYPE_ALIASES:
            element.set("type", CASH_TYPE_ALIASES[kind])


def _drop_unknown_enum_values(root: ET.Element) -> None:
    for element in root.iter():
        cls = getattr(Types, element.tag, None)
        if not (isinstance(cls, type) and issubclass(cls, Types.FlexElement)):
            continue
        hints = cls.__annotations__
        for name, value in list(element.attrib.items()):
            hint = hints.get(name)
            if not isinstance(hint, str) or not value:
                continue
            if hint == "tuple[enums.Code, ...]":
                sep = ";" if ";" in value else ","
                known = [code for code in value.split(sep) if _is_code(code)]
                if len(known) != len([code for code in value.split(sep) if code]):
                    log.info("ignoring unknown %s.%s codes in %r", element.tag, name, value)
                    element.set(name, sep.join(known))
            elif hint.startswith("enums."):
                try:
                    parser.ATTRIB_CONVERTERS[hint](value=value)
                except (ValueError, KeyError):
                    log.info("ignoring unknown %s.%s value %r", element.tag, name, value)
                    del element.attrib[name]


def _is_code(text: str) -> bool:
    try:
        enums.Code(text)
    except ValueError:
        return False
    return True


def base_currency(statement: Types.FlexStatement) -> str | None:
    """The account's base currency: Account Information, else the NAV or rate sections."""
    info = statement.AccountInformation
    if info is not None and info.currency:
        return info.currency
    for row in statement.EquitySummaryInBase:
        if row.currency and row.currency != BASE_SUMMARY:
            return row.currency
    targets = {rate.toCurrency for rate in statement.ConversionRates if rate.toCurrency}
    return targets.pop() if len(targets) == 1 else None


def account_info(statement: Types.FlexStatement) -> AccountInfo:
    currency = base_currency(statement)
    if currency is None:
        raise MalformedAnswer(
            f"the statement of {statement.accountId} does not say the base currency: add the "
            "Account Information section (Currency) to the Activity Flex Query"
        )
    info = statement.AccountInformation
    alias = info.acctAlias if info is not None and info.acctAlias else ""
    name = f"{SERVICE} {statement.accountId}" + (f" ({alias})" if alias else "")
    return AccountInfo(statement.accountId, name, "brokerage", currency)


def nav_rows(statement: Types.FlexStatement) -> list[Types.EquitySummaryByReportDateInBase]:
    """Daily NAV rows with a date and a total, one per day (the last one wins), by date."""
    by_day = {
        row.reportDate: row
        for row in statement.EquitySummaryInBase
        if row.reportDate is not None and row.total is not None
    }
    return [by_day[day] for day in sorted(by_day)]


def nav_components(row: Types.EquitySummaryByReportDateInBase) -> dict[str, str]:
    return {
        name: str(value)
        for name in NAV_COMPONENTS
        if (value := getattr(row, name, None)) is not None
    }


def cash_by_currency(statement: Types.FlexStatement) -> tuple[dict[str, str], str | None]:
    """Ending cash per currency, and the BASE_SUMMARY row (all cash in base) on its own."""
    cash: dict[str, str] = {}
    in_base = None
    for row in statement.CashReport:
        if row.currency is None or row.endingCash is None:
            continue
        if row.currency == BASE_SUMMARY:
            in_base = str(row.endingCash)
        else:
            cash[row.currency] = str(row.endingCash)
    return cash, in_base


FLOW_KINDS = {
    enums.CashAction.DIVIDEND: "dividend",
    enums.CashAction.PAYMENTINLIEU: "dividend",
    enums.CashAction.WHTAX: "tax",
    enums.CashAction.BROKERINTRCVD: "interest",
    enums.CashAction.BROKERINTPAID: "interest",
    enums.CashAction.BONDINTRCVD: "interest",
    enums.CashAction.BONDINTPAID: "interest",
    enums.CashAction.FEES: "fee",
    enums.CashAction.ADVISORFEES: "fee",
    enums.CashAction.COMMADJ: "fee",
}


def flow_kind(kind: enums.CashAction | None, amount: Decimal) -> str:
    """Our kind of a CashTransaction: deposits/withdrawals by sign, unknown types `other`."""
    if kind == enums.CashAction.DEPOSITWITHDRAW:
        return "deposit" if amount >= 0 else "withdrawal"
    return FLOW_KINDS.get(kind, "other") if kind is not None else "other"


def cash_flows(statement: Types.FlexStatement, currency: str) -> list[CashFlowInfo]:
    """The statement's cash transactions in the account's (base) currency: a transaction in
    another currency is converted by its own `fxRateToBase` (IBKR's rate), rounded half-even.
    The day is the report date (the NAV day that includes it), else the trade or settle day."""
    flows = []
    for row in statement.CashTransactions:
        detail = (row.levelOfDetail or "DETAIL").upper()
        if detail == "SUMMARY" or row.currency == BASE_SUMMARY or row.amount is None:
            continue
        when = row.dateTime.date() if row.dateTime is not None else None
        day = row.reportDate or when or row.settleDate
        if day is None:
            raise MalformedAnswer(f"{SERVICE} sent a cash transaction without a date")
        amount = Decimal(row.amount)
        if row.currency and row.currency != currency:
            if row.fxRateToBase is None:
                raise MalformedAnswer(
                    f"{SERVICE} sent a {row.currency} cash transaction without fxRateToBase"
                )
            amount = money.multiply(amount, Decimal(row.fxRateToBase), money.AMOUNT_PLACES)
        else:
            amount = money.quantize(amount, money.AMOUNT_PLACES)
        kind = row.type.value if row.type is not None else None
        flows.append(
            CashFlowInfo(
                flow_date=day,
                amount=amount,
                currency=currency,
                kind=flow_kind(row.type, amount),
                external_id=f"ibkr:{row.transactionID}" if row.transactionID else None,
                description=(row.description or kind or "")[:500],
                raw_data={
                    "source": "IBKR Flex CashTransactions",
                    "type": kind,
                    "currency": row.currency,
                    "amount": str(row.amount),
                    "fx_rate_to_base": None if row.fxRateToBase is None else str(row.fxRateToBase),
                    "transaction_id": row.transactionID,
                },
            )
        )
    return flows


def asset_class(category: str | None, sub_category: str | None = None) -> str:
    """Our asset class for IBKR's assetCategory.

    ETFs are STK with subCategory ETF in IBKR's data; they count as funds (like FUND),
    since an ETF can hold bonds or commodities as well as shares.
    """
    if category == "STK" and (sub_category or "").upper() == "ETF":
        return "fund"
    return ASSET_CLASSES_BY_CATEGORY.get(category or "", "other")


def position_info(row: Types.OpenPosition, fallback_currency: str) -> PositionInfo:
    """One SUMMARY row as a position; the price is per unit held, so quantity x price is
    about the market value (bonds: percent of par / 100; derivatives: times the multiplier)."""
    category = row.assetCategory.value if row.assetCategory is not None else None
    quantity = row.position if row.position is not None else Decimal(0)
    price = None
    if row.markPrice is not None:
        if category in PERCENT_OF_PAR:
            price = row.markPrice / 100
        else:
            price = row.markPrice * (row.multiplier if row.multiplier else 1)
    value = row.positionValue
    if value is None:
        value = quantity * price if price is not None else Decimal(0)
    symbol = row.symbol or row.isin or row.conid or ""
    return PositionInfo(
        symbol=symbol,
        name=row.description or symbol,
        quantity=money.quantize(quantity, money.QUANTITY_PLACES),
        price_per_unit=None if price is None else money.quantize(price, money.PRICE_PLACES),
        market_value=money.quantize(value, money.AMOUNT_PLACES),
        currency=row.currency or fallback_currency,
        isin=row.isin or None,
        cost_basis=None
        if row.costBasisMoney is None
        else money.quantize(row.costBasisMoney, money.AMOUNT_PLACES),
        asset_class=asset_class(category, row.subCategory),
    )


def summary_positions(statement: Types.FlexStatement, fallback_currency: str) -> list[PositionInfo]:
    """Open positions, SUMMARY rows only: LOT rows repeat them lot by lot."""
    return [
        position_info(row, fallback_currency)
        for row in statement.OpenPositions
        if (row.levelOfDetail or "SUMMARY").upper() == "SUMMARY"
    ]


# --- the integration --------------------------------------------------------------------


@register("ibkr")
class IbkrFlex(BrokerIntegrationBase):
    """Balances, positions and daily NAV history from one Activity Flex Query."""

    secret_fields: ClassVar[tuple[str, ...]] = ("flex_token",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._response: Types.FlexQueryResponse | None = None
        # Accounts whose statement has a CashTransactions section (empty or not).
        self._with_cash_transactions: set[str] = set()
        self._refused: AuthenticationFailed | None = None  # asked once, never again
        # Pauses between polls; tests record them instead of waiting.
        self.sleep: Callable[[float], None] = time.sleep

    # --- the interface ------------------------------------------------------------------

    def authenticate(self) -> AuthResult:
        """Fetch the statement: the only way to know the token and query are good."""
        self._statements()
        return AuthResult(success=True)

    def get_accounts(self) -> list[AccountInfo]:
        return [account_info(statement) for statement in self._statements()]

    def get_balance(self, account_identifier: str) -> BalanceInfo:
        statement = self._statement(account_identifier)
        currency = account_info(statement).currency
        rows = nav_rows(statement)
        if not rows:
            raise MalformedAnswer(
                f"the statement of {statement.accountId} has no net asset value: add the "
                "'Net Asset Value (NAV) in Base' section to the Activity Flex Query"
            )
        latest = rows[-1]
        cash, cash_in_base = cash_by_currency(statement)
        raw = {
            "source": "IBKR Flex statement",
            "account_id": statement.accountId,
            "statement_from": statement.fromDate.isoformat(),
            "statement_to": statement.toDate.isoformat(),
            "generated": statement.whenGenerated.isoformat(),
            "report_date": latest.reportDate.isoformat(),
            "base_currency": currency,
            "nav": nav_components(latest),
            "cash_by_currency": cash,
            "cash_in_base": cash_in_base,  # IBKR's BASE_SUMMARY row: all cash, in base
        }
        return BalanceInfo(
            balance=money.quantize(latest.total, money.AMOUNT_PLACES),
            currency=currency,
            balance_date=latest.reportDate,
            raw_data=self._redact(raw),
        )

    def get_positions(self, account_identifier: str) -> list[PositionInfo]:
        statement = self._statement(account_identifier)
        return summary_positions(statement, account_info(statement).currency)

    def supports_historical_data(self) -> bool:
        return True

    def get_historical_balances(
        self, account_identifier: str, start_date: date, end_date: date
    ) -> list[BalanceInfo]:
        """Daily NAV within [start_date, end_date], as far as the query's period reaches."""
        statement = self._statement(account_identifier)
        currency = account_info(statement).currency
        return [
            BalanceInfo(
                balance=money.quantize(row.total, money.AMOUNT_PLACES),
                currency=currency,
                balance_date=row.reportDate,
                raw_data=self._redact(
                    {"source": "IBKR Flex NAV history", "nav": nav_components(row)}
                ),
            )
            for row in nav_rows(statement)
            if start_date <= row.reportDate <= end_date
        ]

    def supports_cash_flows(self) -> bool:
        return True

    def cash_flow_span(
        self, account_identifier: str, start_date: date, end_date: date
    ) -> tuple[date, date] | None:
        """The days the statement's period and [start, end] share (its flows are complete
        for them), None when the query has no Cash Transactions section."""
        statement = self._statement(account_identifier)
        if account_identifier not in self._with_cash_transactions:
            return None
        first, last = max(start_date, statement.fromDate), min(end_date, statement.toDate)
        return (first, last) if first <= last else None

    def get_cash_flows(
        self, account_identifier: str, start_date: date, end_date: date
    ) -> list[CashFlowInfo]:
        statement = self._statement(account_identifier)
        if account_identifier not in self._with_cash_transactions:
            raise MalformedAnswer(
                "the Activity Flex Query has no Cash Transactions section: add it (all types) "
                "so deposits, withdrawals, dividends and fees are known"
            )
        currency = account_info(statement).currency
        flows = [
            flow
            for flow in cash_flows(statement, currency)
            if start_date <= flow.flow_date <= end_date
        ]
        return [replace(flow, raw_data=self._redact(flow.raw_data or {})) for flow in flows]

    # --- the download -------------------------------------------------------------------

    def _statements(self) -> tuple[Types.FlexStatement, ...]:
        if self._refused is not None:
            raise self._refused
        if self._response is None:
            try:
                self._response = self._download()
            except AuthenticationFailed as exc:
                self._refused = exc
                raise
        return self._response.FlexStatements

    def _statement(self, account_identifier: str) -> Types.FlexStatement:
        statements = self._statements()
        for statement in statements:
            if statement.accountId == account_identifier:
                return statement
        listed = ", ".join(s.accountId for s in statements) or "none"
        raise MalformedAnswer(
            f"the Flex Query's statement has no account {account_identifier} (it has: {listed})"
        )

    def _credentials(self) -> tuple[str, str]:
        token = str(self.credentials.get("flex_token") or "").strip()
        query_id = str(self.credentials.get("query_id") or "").strip()
        if not token:
            raise AuthenticationFailed("The IBKR Flex token is missing. " + TOKEN_HELP)
        if not query_id.isdigit():
            raise AuthenticationFailed(
                "The IBKR Flex Query ID is missing or not a number: enter the ID of your "
                "Activity Flex Query (Performance & Reports > Flex Queries)."
            )
        return token, query_id

    def _download(self) -> Types.FlexQueryResponse:
        token, query_id = self._credentials()
        base = self.broker.api_base_url.rstrip("/")
        if not base:
            raise MalformedAnswer(f"no Flex Web Service address is configured for {SERVICE}")
        waiter = _Waiter(self.context.poll_interval_seconds, self.context.two_fa_wait_seconds)
        with httpx.Client(
            timeout=self.context.timeout_seconds,
            headers={"User-Agent": USER_AGENT},
            verify=http.tls_context(),
        ) as client:
            access = self._ask(client, f"{base}/SendRequest", token, query_id, waiter)
            if access.status != "Success" or not access.reference_code:
                raise MalformedAnswer(
                    f"{SERVICE} accepted the request but sent no reference code "
                    f"(status {access.status or 'missing'})"
                )
            url = statement_url(base, access.url)
            waiter.pause(self.sleep)  # generation takes a moment; one request per second
            answer = self._ask(client, url, token, access.reference_code, waiter)
        if answer.statement is None:
            raise MalformedAnswer(
                f"{SERVICE} answered {answer.status or 'something'} instead of the statement"
            )
        self._with_cash_transactions = {
            element.get("accountId", "")
            for element in answer.statement.iter("FlexStatement")
            if element.find("CashTransactions") is not None
        }
        return parse_statement(answer.statement)

    def _ask(
        self, client: httpx.Client, url: str, token: str, query: str, waiter: _Waiter
    ) -> FlexAnswer:
        """GET one step, asking again after a pause while IBKR says 'try again shortly'."""
        params = {"t": token, "q": query, "v": FLEX_VERSION}
        while True:
            try:
                response = http.request(client, "GET", url, params=params, retry=self.context.retry)
            except http.HttpFailure as exc:
                raise self._scrubbed(http_error(exc, SERVICE)) from None
            try:
                answer = read_answer(response.content)
            except MalformedAnswer as exc:
                raise self._scrubbed(exc) from None
            if answer.status in ("Statement", "Success"):
                return answer
            message = self.scrub(answer.error_message)
            if answer.error_code not in WAIT_CODES:
                raise self._scrubbed(flex_error(answer.error_code, message))
            factor = waiter.next_factor(rate_limited=answer.error_code == RATE_LIMITED)
            if not waiter.can_pause(factor):
                raise TemporarilyUnavailable(
                    f"{SERVICE} still said 'try again shortly' after {waiter.waited:.0f} s "
                    f"[IBKR code {answer.error_code}: {message}]; the next run asks again"
                )
            waiter.pause(self.sleep, factor)

    # --- secrets ------------------------------------------------------------------------

    def _scrubbed(self, error: BrokerError) -> BrokerError:
        text = self.scrub(str(error))
        return error if text == str(error) else type(error)(text)

    def _redact(self, raw: dict[str, Any]) -> dict[str, Any]:
        return redact(raw, self.secret_fields, secret_values=self._secret_values())

    def _secret_values(self) -> Iterable[str]:
        return [str(self.credentials.get(name) or "") for name in self.secret_fields]


class _Waiter:
    """Pauses between polls, bounded in total (the pauses, not the requests, are counted)."""

    def __init__(self, interval: float, budget: float) -> None:
        self.interval = max(interval, 0.0)
        self.budget = max(budget, 0.0)
        self.waited = 0.0
        self.polls = 0

    def next_factor(self, rate_limited: bool = False) -> int:
        """How many intervals to pause before the next poll: doubling, capped."""
        self.polls += 1
        factor = min(2 ** (self.polls - 1), MAX_PAUSE_FACTOR)
        return max(factor, RATE_LIMIT_PAUSE_FACTOR) if rate_limited else factor

    def can_pause(self, factor: int = 1) -> bool:
        return self.waited + self.interval * factor <= self.budget + 1e-9

    def pause(self, sleep: Callable[[float], None], factor: int = 1) -> None:
        seconds = self.interval * factor
        self.waited += seconds
        sleep(seconds)
