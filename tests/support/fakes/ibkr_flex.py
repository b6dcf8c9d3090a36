"""A local Interactive Brokers Flex Web Service (version 3) serving Activity Flex statements.

Speaks the real two steps under `/AccountManagement/FlexWebService`: `SendRequest?t&q&v=3`
answers a `<FlexStatementResponse>` with a reference code and the GetStatement URL (or
Status Fail/Warn with ErrorCode/ErrorMessage), `GetStatement?t&q&v=3` answers the
`<FlexQueryResponse>` or an error. Checks what the real service checks: a User-Agent, v=3,
a known, unexpired token, a known query id, a reference code issued to that token.

Statements are realistic enough for `ibflex`: IBKR's default date formats, several
currencies, STK (one of them an ETF) + BOND + CASH positions with SUMMARY and LOT rows, the
cash report with its BASE_SUMMARY row, conversion rates, and one NAV row per business day.

Cash transactions (the `CashTransactions` section; brokers.md: `type="Deposits/Withdrawals"`
with `amount`, `currency`, `dateTime`/`settleDate`, `fxRateToBase`; dividends, withholding tax
and fees are other types of the same section; the attribute names and the other type strings
are those of `ibflex.Types.CashTransaction` and `ibflex.enums.CashAction`, the public parser
of real statements): `CASH_TRANSACTIONS` within the statement's period, one in USD converted by
its `fxRateToBase`. `statement_xml(cash_transactions=False)` leaves the section out, as a
query without it does. Whether IBKR writes "Deposits/Withdrawals" or ibflex's
"Deposits & Withdrawals" differs between sources: the fake uses the former for deposits and
the integration accepts both.

Scripted behaviours: `script("GetStatement", "1019", "1019")` answers those error codes to
the next requests of that step, then the real answer; "nocode" is a Fail without ErrorCode;
`(code, message)` pairs set the message ("{token}" is replaced by the token sent, as a
careless service might echo it). HTTP faults (500s, slow answers, HTML pages, truncated
bodies) come from `FakeService.inject`.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from xml.sax.saxutils import quoteattr

from tests.support.fakes.server import FakeService, Request, Response

PREFIX = "/AccountManagement/FlexWebService"
TOKEN = "710295638472910384756129"  # IBKR tokens are 24 digits
EXPIRED_TOKEN = "193847561029384756102938"
QUERY_ID = "987654"
TWO_ACCOUNT_QUERY_ID = "987655"
NO_CASH_QUERY_ID = "987656"  # a query without the Cash Transactions section
ACCOUNT = "U7654321"
SECOND_ACCOUNT = "U1234567"
STATEMENT_END = date(2024, 3, 15)
HISTORY_DAYS = 50  # calendar days; one NAV row per business day (36 rows)

MESSAGES = {
    "1001": "Statement could not be generated at this time. Please try again shortly.",
    "1003": "Statement is not available.",
    "1009": "The server is under heavy load. Statement could not be generated at this time. "
    "Please try again shortly.",
    "1012": "Token has expired.",
    "1013": "IP restriction.",
    "1014": "Query is invalid.",
    "1015": "Token is invalid.",
    "1016": "Account is invalid.",
    "1017": "Reference code is invalid.",
    "1018": "Too many requests have been made from this token. Please try again shortly.",
    "1019": "Statement generation in progress. Please try again shortly.",
    "1020": "Invalid request or unable to validate request.",
    "1021": "Statement could not be retrieved at this time. Please try again shortly.",
}
WARN_CODES = {"1001", "1009", "1018", "1019", "1021"}


# --- statements -------------------------------------------------------------------------


@dataclass(frozen=True)
class Holding:
    category: str
    sub_category: str
    symbol: str
    description: str
    isin: str
    currency: str
    fx_to_base: str
    position: str
    mark_price: str
    value: str
    cost: str
    lots: tuple[tuple[str, str, str], ...]  # (position, value, cost) per lot


HOLDINGS = (
    Holding("STK", "COMMON", "AAPL", "APPLE INC", "US0378331005", "USD", "0.9187",
            "25", "172.62", "4315.5", "3710.25",
            (("15", "2589.3", "2163.15"), ("10", "1726.2", "1547.1"))),
    Holding("STK", "ETF", "VWRL", "VANGUARD FTSE ALL-WORLD UCITS ETF", "IE00B3RBWM25", "EUR",
            "1", "120.5", "112.34", "13536.97", "11020.8",
            (("100", "11234", "9120"), ("20.5", "2302.97", "1900.8"))),
    Holding("STK", "COMMON", "NESN", "NESTLE SA-REG", "CH0038863350", "CHF", "1.0412",
            "40", "96.12", "3844.8", "4100",
            (("40", "3844.8", "4100"),)),
    Holding("BOND", "", "DBR 1 08/15/24", "DBR 1 08/15/24", "DE0001102366", "EUR", "1",
            "2000", "98.562", "1971.24", "1955",
            (("2000", "1971.24", "1955"),)),
    Holding("CASH", "", "GBP", "GBP", "", "GBP", "1.1693",
            "500", "1", "500", "500",
            ()),
)  # fmt: skip
CASH = {"EUR": "8123.45", "USD": "-1250.1", "CHF": "310.07"}  # ending cash per currency
CASH_IN_BASE = "7297.828014"  # the BASE_SUMMARY row: the cash above, in EUR
BASE_SUMMARY = "BASE_SUMMARY"
LATEST_NAV = {  # cash includes the GBP position; the total is the sum, to the cent
    "cash": "7882.48",
    "stock": "21504.83",
    "bonds": "1971.24",
    "funds": "0",
    "interestAccruals": "12.81",
    "dividendAccruals": "4.7",
    "total": "31376.06",
}


# (days before the end, type, currency, amount, fxRateToBase, description, transactionID)
CASH_TRANSACTIONS = (
    (40, "Deposits/Withdrawals", "EUR", "5000", "1", "CASH RECEIPTS / ELECTRONIC FUND TRANSFERS", "9001"),
    (33, "Dividends", "USD", "42.5", "0.92", "VT(US9220427424) CASH DIVIDEND USD 0.25 PER SHARE", "9002"),
    (33, "Withholding Tax", "USD", "-6.38", "0.92", "VT(US9220427424) CASH DIVIDEND - US TAX", "9003"),
    (20, "Other Fees", "EUR", "-10", "1", "MONTHLY MINIMUM ACTIVITY FEE", "9004"),
    (12, "Broker Interest Received", "EUR", "3.21", "1", "EUR CREDIT INT FOR FEB-2024", "9005"),
    (5, "Deposits/Withdrawals", "EUR", "-1200", "1", "DISBURSEMENT INITIATED BY Jane Doe", "9006"),
)  # fmt: skip


def business_days(end: date, days: int) -> list[date]:
    first = end - timedelta(days=days - 1)
    every = (first + timedelta(days=n) for n in range(days))
    return [day for day in every if day.weekday() < 5]


def nav_history(end: date = STATEMENT_END, days: int = HISTORY_DAYS) -> dict[date, dict]:
    """NAV rows by day: the last is LATEST_NAV; earlier totals drift by exact cents."""
    history = {}
    dates = business_days(end, days)
    for index, day in enumerate(dates):
        back = len(dates) - 1 - index
        if back == 0:
            history[day] = dict(LATEST_NAV)
            continue
        stock = (
            Decimal(LATEST_NAV["stock"]) - Decimal("41.37") * back + Decimal("0.01") * (back % 7)
        )
        row = dict(LATEST_NAV, stock=str(stock))
        parts = ("cash", "stock", "bonds", "funds", "interestAccruals", "dividendAccruals")
        row["total"] = str(sum(Decimal(row[name]) for name in parts))
        history[day] = row
    return history


def _attrs(**values: str) -> str:
    return " ".join(f"{name}={quoteattr(value)}" for name, value in values.items())


def _ymd(day: date) -> str:
    return day.strftime("%Y%m%d")


def statement_xml(
    account_id: str = ACCOUNT,
    base: str = "EUR",
    end: date = STATEMENT_END,
    days: int = HISTORY_DAYS,
    alias: str = "",
    cash_transactions: bool = True,
) -> str:
    """One <FlexStatement>, in IBKR's default formats (yyyyMMdd, yyyyMMdd;HHmmss)."""
    start = end - timedelta(days=days - 1)
    generated = datetime.combine(end + timedelta(days=1), datetime.min.time()).replace(hour=8)
    lines = [
        "<FlexStatement "
        + _attrs(
            accountId=account_id,
            fromDate=_ymd(start),
            toDate=_ymd(end),
            period="Last365CalendarDays",
            whenGenerated=generated.strftime("%Y%m%d;%H%M%S"),
        )
        + ">",
        "<AccountInformation "
        + _attrs(
            accountId=account_id,
            acctAlias=alias,
            model="",
            currency=base,
            name="Jane Doe",
            accountType="Individual",
            customerType="Individual",
            accountCapabilities="Margin",
            tradingPermissions="Stocks,Bonds,Forex",
            dateOpened="20190312",
            dateFunded="20190320",
            dateClosed="",
            ibEntity="IBIE",
        )
        + " />",
        "<EquitySummaryInBase>",
    ]
    for day, row in nav_history(end, days).items():
        lines.append(
            "<EquitySummaryByReportDateInBase "
            + _attrs(accountId=account_id, acctAlias=alias, model="", currency=base)
            + " "
            + _attrs(reportDate=_ymd(day), **row)
            + " />"
        )
    lines += ["</EquitySummaryInBase>", "<CashReport>"]
    for currency, ending, detail in [
        (BASE_SUMMARY, CASH_IN_BASE, "BaseCurrency"),
        *((currency, ending, "Currency") for currency, ending in CASH.items()),
    ]:
        lines.append(
            "<CashReportCurrency "
            + _attrs(
                accountId=account_id,
                acctAlias=alias,
                model="",
                currency=currency,
                levelOfDetail=detail,
                fromDate=_ymd(start),
                toDate=_ymd(end),
                startingCash="0",
                commissions="-12.4",
                deposits="0",
                dividends="0",
                endingCash=ending,
                endingSettledCash=ending,
            )
            + " />"
        )
    lines += ["</CashReport>", "<OpenPositions>"]
    for holding in HOLDINGS:
        rows = [("SUMMARY", holding.position, holding.value, holding.cost, "")]
        rows += [
            ("LOT", position, value, cost, f"2023{month:02d}14;093012")
            for month, (position, value, cost) in enumerate(holding.lots, start=3)
        ]
        for detail, position, value, cost, opened in rows:
            lines.append(
                "<OpenPosition "
                + _attrs(
                    accountId=account_id,
                    acctAlias=alias,
                    model="",
                    currency=holding.currency,
                    fxRateToBase=holding.fx_to_base,
                    assetCategory=holding.category,
                    subCategory=holding.sub_category,
                    symbol=holding.symbol,
                    description=holding.description,
                    conid=str(265598 + len(holding.symbol)),
                    securityID=holding.isin,
                    securityIDType="ISIN" if holding.isin else "",
                    cusip="",
                    isin=holding.isin,
                    listingExchange="",
                    multiplier="1",
                    reportDate=_ymd(end),
                    position=position,
                    markPrice=holding.mark_price,
                    positionValue=value,
                    openPrice=str(Decimal(cost) / Decimal(position)),
                    costBasisPrice=str(Decimal(cost) / Decimal(position)),
                    costBasisMoney=cost,
                    percentOfNAV="1.5",
                    fifoPnlUnrealized=str(Decimal(value) - Decimal(cost)),
                    side="Long",
                    levelOfDetail=detail,
                    openDateTime=opened,
                    holdingPeriodDateTime=opened,
                    code="",
                    accruedInt="",
                )
                + " />"
            )
    lines += ["</OpenPositions>", "<ConversionRates>"]
    rates = {h.currency: h.fx_to_base for h in HOLDINGS if h.currency != base}
    for currency, rate in sorted(rates.items()):
        lines.append(
            "<ConversionRate "
            + _attrs(reportDate=_ymd(end), fromCurrency=currency, toCurrency=base, rate=rate)
            + " />"
        )
    lines += ["</ConversionRates>"]
    if cash_transactions:
        lines.append("<CashTransactions>")
        for back, kind, currency, amount, fx, text, transaction in CASH_TRANSACTIONS:
            if back >= days:
                continue  # outside the statement's period
            day = end - timedelta(days=back)
            lines.append(
                "<CashTransaction "
                + _attrs(
                    accountId=account_id,
                    acctAlias=alias,
                    model="",
                    currency=currency,
                    fxRateToBase=fx,
                    assetCategory="STK" if kind in ("Dividends", "Withholding Tax") else "",
                    symbol="VT" if kind in ("Dividends", "Withholding Tax") else "",
                    description=text,
                    dateTime=_ymd(day) + ";202000",
                    settleDate=_ymd(day),
                    amount=amount,
                    type=kind,
                    tradeID="",
                    code="",
                    transactionID=f"{account_id}-{transaction}",
                    reportDate=_ymd(day),
                    clientReference="",
                    levelOfDetail="DETAIL",
                )
                + " />"
            )
        lines.append("</CashTransactions>")
    lines.append("</FlexStatement>")
    return "\n".join(lines)


def query_response_xml(statements: list[str], query_name: str = "wealth-pipeline") -> str:
    return (
        '<FlexQueryResponse queryName="{}" type="AF">\n<FlexStatements count="{}">\n{}\n'
        "</FlexStatements>\n</FlexQueryResponse>\n"
    ).format(query_name, len(statements), "\n".join(statements))


def _timestamp() -> str:
    return "16 March, 2024 08:12 AM EDT"


def status_xml(status: str, **children: str) -> str:
    inner = "".join(f"<{name}>{text}</{name}>" for name, text in children.items())
    return (
        f'<FlexStatementResponse timestamp="{_timestamp()}">'
        f"<Status>{status}</Status>{inner}</FlexStatementResponse>\n"
    )


def error_xml(code: str, message: str | None = None) -> str:
    if code == "nocode":
        return status_xml("Fail")
    status = "Warn" if code in WARN_CODES else "Fail"
    return status_xml(status, ErrorCode=code, ErrorMessage=message or MESSAGES.get(code, ""))


# --- the service ------------------------------------------------------------------------


@dataclass
class FlexQuery:
    statements: list[str]


@dataclass
class Issued:
    token: str
    query_id: str


class FakeIbkrFlex(FakeService):
    def __init__(self) -> None:
        super().__init__()
        self.tokens = {TOKEN}
        self.expired_tokens = {EXPIRED_TOKEN}
        self.queries = {
            QUERY_ID: FlexQuery([statement_xml()]),
            NO_CASH_QUERY_ID: FlexQuery([statement_xml(cash_transactions=False)]),
            TWO_ACCOUNT_QUERY_ID: FlexQuery(
                [statement_xml(alias="Main"), statement_xml(SECOND_ACCOUNT, "USD", days=10)]
            ),
        }
        self.scripts: dict[str, list[str | tuple[str, str]]] = {}
        self.issued: dict[str, Issued] = {}
        self._next_reference = 5123456780
        self._script_lock = threading.Lock()

    @property
    def api_base_url(self) -> str:
        return self.base_url + PREFIX

    def script(self, step: str, *codes: str | tuple[str, str]) -> None:
        """Answer these error codes to the next requests of `step` (SendRequest/GetStatement)."""
        with self._script_lock:
            self.scripts.setdefault(step, []).extend(codes)

    def reset(self) -> None:
        super().reset()
        with self._script_lock:
            self.scripts.clear()
            self.issued.clear()

    def count(self, step: str) -> int:
        return sum(1 for path in self.paths() if path == f"{PREFIX}/{step}")

    # --- the protocol -------------------------------------------------------------------

    def route(self, request: Request) -> Response:
        if not request.path.startswith(PREFIX + "/"):
            return Response(404, b"<html><body>Not Found</body></html>", "text/html")
        step = request.path[len(PREFIX) + 1 :]
        if step not in ("SendRequest", "GetStatement"):
            return Response(404, b"<html><body>Not Found</body></html>", "text/html")
        token = request.arg("t", "") or ""
        scripted = self._next_scripted(step)
        if scripted is not None:
            code, message = scripted if isinstance(scripted, tuple) else (scripted, None)
            if message:
                message = message.replace("{token}", token)
            return Response.xml(error_xml(code, message))
        if not request.headers.get("user-agent") or request.arg("v") != "3":
            return Response.xml(error_xml("1020"))
        if token in self.expired_tokens:
            return Response.xml(error_xml("1012"))
        if token not in self.tokens:
            return Response.xml(error_xml("1015"))
        if step == "SendRequest":
            return self._send_request(token, request.arg("q", "") or "")
        return self._get_statement(token, request.arg("q", "") or "")

    def _next_scripted(self, step: str) -> str | tuple[str, str] | None:
        with self._script_lock:
            queue = self.scripts.get(step)
            return queue.pop(0) if queue else None

    def _send_request(self, token: str, query_id: str) -> Response:
        if query_id not in self.queries:
            return Response.xml(error_xml("1014"))
        with self._script_lock:
            reference = str(self._next_reference)
            self._next_reference += 1
            self.issued[reference] = Issued(token, query_id)
        return Response.xml(
            status_xml(
                "Success",
                ReferenceCode=reference,
                Url=f"{self.api_base_url}/GetStatement",
            )
        )

    def _get_statement(self, token: str, reference: str) -> Response:
        with self._script_lock:
            issued = self.issued.get(reference)
        if issued is None:
            return Response.xml(error_xml("1017"))
        if issued.token != token:
            return Response.xml(error_xml("1015"))
        query = self.queries[issued.query_id]
        return Response.xml(query_response_xml(query.statements))
