"""DKB and Commerzbank through FinTS 3.0 PIN/TAN, built on python-fints (`fints` 5.x).

Login: the bank's BLZ and server come from the catalogue, the credentials are
`{username, pin}`, and the FinTS product registration from `WEALTH_FINTS_PRODUCT_ID`
(`IntegrationContext.fints_product_id`): banks refuse unregistered clients.

Strong authentication (SCA): the TAN mechanism offering app approval (decoupled) is preferred.
An app approval is polled (`send_tan(pending, "")` while the bank answers 3956) every
`poll_interval_seconds` for up to `two_fa_wait_seconds`; then the dialog is paused and
`TwoFactorRequired` carries `session_data` from which `complete_2fa(None, session_data)`
resumes it, in this process or another one. Other challenges (a TAN from a generator or SMS,
a photoTAN image, a flicker code) are answered by `authenticate()` as
`AuthResult(requires_2fa=True, ...)`, finished by `complete_2fa(tan, session_data)`.

State: `export_state()` is python-fints' `deconstruct(including_private=True)` (system ID,
bank and user parameters, the chosen TAN mechanism). Giving it back (`context.state`) keeps
the system ID, which is what earns the bank's ~90-day exemption from SCA. It and
`session_data` hold account data and a pickled dialog: the caller encrypts them, and they
must never come from an untrusted source.

Network: FinTS messages are numbered within a dialog and every one carries the PIN, so none
is ever resent: a timeout, a refused connection or an HTTP 5xx is `TemporarilyUnavailable`
at once (retryable by the next run), and a PIN rejection (9910/9931 ...) is
`AuthenticationFailed` after exactly one attempt, since banks lock the access after a few.

Holdings (HKWPD) are MT535 statements, parsed here into Decimals (python-fints' own parser
uses floats). The asset class is a best effort from the statement: bonds (face amount or a
percentage price) are "fixed_income", names naming a fund/ETF "fund", ETCs and metals
"commodity", any other security held in units "equity".
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import httpx
from fints.client import FinTS3PinTanClient, NeedRetryResponse, NeedTANResponse
from fints.exceptions import (
    FinTSClientPINError,
    FinTSClientTemporaryAuthError,
    FinTSConnectionError,
    FinTSError,
    FinTSSCARequiredError,
    FinTSUnsupportedOperation,
)
from fints.formals import DescriptionRequired
from fints.message import FinTSInstituteMessage, FinTSMessage
from fints.models import SEPAAccount
from fints.segments.depot import HKWPD5, HKWPD6

from wealth_pipeline import http, money
from wealth_pipeline.brokers.base import (
    AccountInfo,
    AuthenticationFailed,
    AuthResult,
    BalanceInfo,
    BrokerConfig,
    BrokerError,
    BrokerIntegrationBase,
    CashFlowInfo,
    ConfigurationProblem,
    IntegrationContext,
    MalformedAnswer,
    PositionInfo,
    TemporarilyUnavailable,
    TwoFactorRequired,
)
from wealth_pipeline.brokers.redact import redact
from wealth_pipeline.brokers.registry import register

log = logging.getLogger(__name__)

PRODUCT_ID_MISSING = (
    "set WEALTH_FINTS_PRODUCT_ID to your FinTS product registration number (registered with "
    "the Deutsche Kreditwirtschaft, https://www.hbci-zka.de/register/prod_register.htm): "
    "banks refuse FinTS clients without one"
)
# Mechanisms the library does not flag as decoupled although they are app approvals: DKB's
# 940 "DKB App" answers 0030 instead of 3955 at some banks' servers.
KNOWN_DECOUPLED = frozenset({"940"})
PIN_CODES = frozenset({"9340", "9910", "9930", "9931", "9942"})
TAN_CODES = frozenset({"9941", "9951"})
MEDIUM_UNKNOWN = "9955"  # "Die Gerätebezeichnung ist unbekannt": the TAN medium, not the TAN
ABORT_CODES = frozenset({"9050", "9800", "9120", "9110"})
SESSION_VERSION = 1
CHOOSE_MEDIUM = "tan_medium"  # AuthResult.two_fa_type: a person picks one of the bank's media

# FinTS account types (Kontoart, FinTS Formals B.3) by range.
ACCOUNT_TYPES = (
    (1, 9, "checking"),
    (10, 19, "savings"),
    (20, 29, "time_deposit"),
    (30, 39, "brokerage"),
    (40, 49, "loan"),
    (50, 59, "credit_card"),
    (60, 69, "brokerage"),
    (70, 79, "building_savings"),
    (80, 89, "insurance"),
)


class FinTSRejected(MalformedAnswer):
    """The bank understood the request and refused it (9210 and other 9xxx codes)."""


class TanMediumUnknown(TwoFactorRequired):
    """9955: the login names no TAN medium, or one the bank does not know. A person chooses
    one of the bank's media (`wealth accounts auth`); it is never a wrong TAN."""

    def __init__(self, message: str) -> None:
        super().__init__(
            message,
            AuthResult(
                success=False,
                requires_2fa=True,
                two_fa_type=CHOOSE_MEDIUM,
                error_message=message,
            ),
        )


# --- pure helpers: bank codes, mechanisms, accounts, MT535 -----------------------------------


def response_codes(message: Any) -> list[tuple[str, str]]:
    """(code, text) of every HIRMS (segment) then HIRMG (message) answer in `message`."""
    codes: list[tuple[str, str]] = []
    for kind in ("HIRMS", "HIRMG"):
        for segment in message.find_segments(kind):
            for answer in segment.responses:
                codes.append((str(answer.code), str(answer.text or "")))
    return codes


def bank_error(codes: list[tuple[str, str]], service: str) -> BrokerError | None:
    """The typed error for a bank's answer codes, or None when none is an error (9xxx).

    The most specific code wins: PIN and lock codes, a rejected TAN, SCA required, then any
    specific refusal, then the generic 9010 and dialog aborts (9050/9800)."""
    errors = [(code, text) for code, text in codes if code.startswith("9")]
    locked = [(c, t) for c, t in codes if c == "3938"]
    if not errors and not locked:
        return None

    def said(code: str, text: str) -> str:
        return f"{code}: {text}" if text else code

    for code, text in errors:
        if code in PIN_CODES:
            what = "the PIN is blocked" if code == "9931" else "wrong PIN or username"
            return AuthenticationFailed(
                f"{service} rejected the login: {what} ({said(code, text)}). It is not retried: "
                "banks lock online banking after a few wrong attempts."
            )
    if locked:
        return AuthenticationFailed(
            f"{service} has temporarily locked online banking access "
            f"({said(*locked[0])}); unlock it on the bank's website"
        )
    for code, text in errors:
        if code == MEDIUM_UNKNOWN:
            return TanMediumUnknown(
                f"{service} needs to know which TAN medium (device) to use ({said(code, text)}); "
                "choose one of yours with `wealth accounts auth`"
            )
    for code, text in errors:
        if code in TAN_CODES:
            return AuthenticationFailed(f"{service} rejected the TAN ({said(code, text)})")
    for code, text in errors:
        if code == "9075":
            return TwoFactorRequired(
                f"{service} asks for strong authentication ({said(code, text)}); log in again",
                AuthResult(success=False, requires_2fa=True, error_message=text or None),
            )
    specific = [(c, t) for c, t in errors if c not in ABORT_CODES and c != "9010"]
    if specific:
        return FinTSRejected(f"{service} rejected the request ({said(*specific[0])})")
    if any(code == "9010" for code, _ in errors):
        code, text = next((c, t) for c, t in errors if c == "9010")
        return TemporarilyUnavailable(
            f"{service} could not process the request ({said(code, text)}); check the bank "
            "code and server if this persists"
        )
    return TemporarilyUnavailable(f"{service} aborted the dialog ({said(*errors[0])})")


def is_decoupled(parameters: Any) -> bool:
    """Whether a TAN mechanism (HITANS two-step parameters) is an app approval."""
    if getattr(parameters, "decoupled_max_poll_number", None) is not None:
        return True
    if str(getattr(parameters, "security_function", "")) in KNOWN_DECOUPLED:
        return True
    names = f"{getattr(parameters, 'zka_id', '')} {getattr(parameters, 'name', '')}".lower()
    return "decoupled" in names or "pushtan" in names or "app" in names.split()


def choose_tan_mechanism(mechanisms: dict[str, Any], current: str | None) -> str | None:
    """The app approval when the bank offers one, else the current (bank's first) choice."""
    usable = {k: v for k, v in mechanisms.items() if k != "999"}
    for function, parameters in usable.items():
        if is_decoupled(parameters):
            return function
    if current in usable:
        return current
    return next(iter(usable), current)


def account_type(code: Any) -> str:
    try:
        number = int(code)
    except (TypeError, ValueError):
        return "other"
    for low, high, name in ACCOUNT_TYPES:
        if low <= number <= high:
            return name
    return "other"


def is_depot(upd: dict[str, Any]) -> bool:
    return account_type(upd.get("type")) == "brokerage"


@dataclass(frozen=True)
class Holding:
    isin: str | None
    wkn: str | None
    name: str
    quantity: Decimal
    price: Decimal | None
    price_currency: str | None
    price_date: date | None
    total: Decimal | None
    total_currency: str | None
    acquisition_price: Decimal | None
    face_amount: bool  # quantity is a nominal amount (bonds)
    percent_price: bool  # price in percent of the nominal (bonds)


def _number(text: str) -> Decimal:
    """An MT535 number ("120,5", "10,") as a Decimal."""
    try:
        return Decimal(text.replace(",", ".").rstrip(".") or "0")
    except InvalidOperation:
        raise MalformedAnswer(f"unreadable number {text!r} in the depot statement") from None


def _clauses(text: str) -> list[str]:
    """MT535 lines joined into clauses (continuation lines appended with |)."""
    clauses: list[str] = []
    for line in text.splitlines():
        if not line:
            continue
        if line.startswith((":", "-")) or not clauses:
            clauses.append(line)
        else:
            clauses[-1] += "|" + line
    return clauses


def parse_mt535(text: str) -> list[Holding]:
    """The holdings of an MT535 statement (SWIFT "Statement of Holdings"), exactly."""
    holdings: list[Holding] = []
    block: list[str] | None = None
    for clause in _clauses(text):
        if clause.startswith(":16R:FIN"):
            block = []
        elif clause.startswith(":16S:FIN"):
            if block is not None:
                holdings.append(_holding(block))
            block = None
        elif block is not None:
            block.append(clause)
    return holdings


_PRICE = re.compile(r"^:90([AB])::MRKT//(ACTU|PRCT|DISC|PREM|YIEL)/([A-Z]{3})?([\d,]+)")
_QUANTITY = re.compile(r"^:93B::AGGR//(UNIT|FAMT|AMOR)/(N?)([\d,]+)")
_TOTAL = re.compile(r"^:19A::HOLD//(N?)([A-Z]{3})([\d,]+)")
_PRICE_DATE = re.compile(r"^:98[AC]::PRIC//(\d{8})")
_ACQUISITION = re.compile(r"^:70E::HOLD//\d*STK\|2([\d,]+)\+([A-Z]{3})")


def _holding(block: list[str]) -> Holding:
    isin = wkn = None
    name = ""
    quantity = Decimal("0")
    price = total = acquisition = None
    price_currency = total_currency = None
    price_date = None
    face_amount = percent_price = False
    for clause in block:
        if clause.startswith(":35B:"):
            parts = clause[5:].split("|")
            if parts[0].startswith("ISIN "):
                isin = parts[0][5:].strip() or None
                parts = parts[1:]
            if parts and parts[0].startswith("/"):
                wkn = parts[0].rsplit("/", 1)[-1] or None
                parts = parts[1:]
            name = " ".join(p.strip() for p in parts if p.strip())
        elif match := _PRICE.match(clause):
            percent_price = match.group(2) == "PRCT"
            price_currency = match.group(3)
            price = _number(match.group(4))
        elif match := _QUANTITY.match(clause):
            face_amount = match.group(1) == "FAMT"
            quantity = _number(match.group(3)) * (-1 if match.group(2) else 1)
        elif match := _TOTAL.match(clause):
            total = _number(match.group(3)) * (-1 if match.group(1) else 1)
            total_currency = match.group(2)
        elif match := _PRICE_DATE.match(clause):
            price_date = datetime.strptime(match.group(1), "%Y%m%d").date()
        elif match := _ACQUISITION.match(clause):
            acquisition = _number(match.group(1))
    return Holding(
        isin,
        wkn,
        name or isin or wkn or "unnamed security",
        quantity,
        price,
        price_currency,
        price_date,
        total,
        total_currency,
        acquisition,
        face_amount,
        percent_price,
    )


_FUND_WORDS = re.compile(r"\b(ETF|UCITS|FONDS?|FUNDS?|SICAV|OEIC|INVESTMENTFONDS|INDEX)\b", re.I)
_COMMODITY_WORDS = re.compile(r"\b(ETC|GOLD|SILBER|SILVER|XETRA-GOLD|PLATIN)\b", re.I)


def asset_class(holding: Holding) -> str:
    """Best effort from the statement alone (see the module docstring)."""
    if holding.face_amount or holding.percent_price:
        return "fixed_income"
    if _COMMODITY_WORDS.search(holding.name):
        return "commodity"
    if _FUND_WORDS.search(holding.name):
        return "fund"
    return "equity"


def position(holding: Holding, fallback_currency: str = "EUR") -> PositionInfo:
    if holding.total is not None:
        value = holding.total
    elif holding.price is not None:
        value = holding.price * holding.quantity
        if holding.percent_price:
            value = value / 100
    else:
        value = Decimal("0")
    currency = holding.total_currency or holding.price_currency or fallback_currency
    cost = None
    if holding.acquisition_price is not None and not holding.face_amount:
        cost = holding.acquisition_price * holding.quantity
    return PositionInfo(
        symbol=holding.isin or holding.wkn or holding.name,
        name=holding.name,
        quantity=holding.quantity,
        price_per_unit=holding.price,
        market_value=value,
        currency=currency,
        isin=holding.isin,
        cost_basis=cost,
        asset_class=asset_class(holding),
    )


def balance_fields(hisal: Any) -> dict[str, Any]:
    """A HISAL segment (versions 5-7) as plain data: Decimals, dates and strings."""

    def amount(value: Any) -> dict[str, Any] | None:
        if value is None or getattr(value, "amount", None) is None:
            return None  # python-fints gives empty groups for absent optional fields
        return {"amount": str(value.amount), "currency": str(value.currency)}

    booked = hisal.balance_booked
    if hasattr(booked.amount, "amount"):  # Balance2 (versions 6, 7)
        booked_amount, booked_currency = booked.amount.amount, booked.amount.currency
    else:  # Balance1 (version 5)
        booked_amount, booked_currency = booked.amount, booked.currency
    fields: dict[str, Any] = {
        "segment": f"HISAL{hisal.header.version}",
        "account_product": hisal.account_product,
        "currency": hisal.currency,
        "balance_booked": {
            "credit_debit": str(booked.credit_debit.value),
            "amount": str(booked_amount),
            "currency": str(booked_currency or hisal.currency),
            "date": booked.date.isoformat() if booked.date else None,
        },
    }
    for name in ("line_of_credit", "available_amount", "used_amount", "overdraft"):
        value = amount(getattr(hisal, name, None))
        if value is not None:
            fields[name] = value
    return fields


def hisal_fields(hisal: Any, service: str) -> dict[str, Any]:
    """The balance segment as plain data, whatever python-fints made of it; MalformedAnswer
    when it cannot be read.

    A HISAL in a version python-fints has no class for (DKB sent one) parses as a generic
    segment holding the raw data elements in `_additional_data`, in HISAL's order: account,
    product, currency, booked balance (credit/debit, amount, currency, date [, time]).
    """
    version = getattr(getattr(hisal, "header", None), "version", "?")
    unreadable = MalformedAnswer(
        f"{service} sent a balance (HISAL version {version}) this client cannot read"
    )
    if type(hisal).__name__.startswith("HISAL"):
        try:
            fields = balance_fields(hisal)
            Decimal(fields["balance_booked"]["amount"])
            return fields
        except (AttributeError, TypeError, ValueError, KeyError, InvalidOperation):
            raise unreadable from None
    raw = getattr(hisal, "_additional_data", None) or []
    try:
        product, currency, booked = raw[1], raw[2], raw[3]
        credit_debit, amount, booked_currency = booked[0], booked[1], booked[2]
        day = booked[3] if len(booked) > 3 else None
        value = Decimal(str(amount).replace(",", "."))
        if str(credit_debit) not in ("C", "D") or not value.is_finite():
            raise ValueError(credit_debit)
        booked_day = datetime.strptime(str(day), "%Y%m%d").date().isoformat() if day else None
    except (IndexError, TypeError, ValueError, InvalidOperation):
        raise unreadable from None
    return {
        "segment": f"HISAL{version}",
        "account_product": str(product or ""),
        "currency": str(currency or booked_currency or ""),
        "balance_booked": {
            "credit_debit": str(credit_debit),
            "amount": str(value),
            "currency": str(booked_currency or currency or ""),
            "date": booked_day,
        },
        "read_from": "raw data elements (a HISAL version python-fints does not parse)",
    }


def parse_balance(fields: dict[str, Any], today: date) -> BalanceInfo:
    booked = fields["balance_booked"]
    sign = -1 if booked["credit_debit"] == "D" else 1
    available = fields.get("available_amount")
    day = date.fromisoformat(booked["date"]) if booked.get("date") else today
    return BalanceInfo(
        balance=Decimal(booked["amount"]) * sign,
        currency=booked["currency"] or fields["currency"],
        balance_date=day,
        available_balance=Decimal(available["amount"]) if available else None,
    )


def challenge_data(pending: NeedTANResponse, mechanism: Any) -> tuple[str, dict[str, Any]]:
    """(two_fa_type, challenge_data) for a TAN request, ready to show to a person."""
    data: dict[str, Any] = {"text": pending.challenge or ""}
    if pending.challenge_html:
        data["html"] = pending.challenge_html
    name = str(getattr(mechanism, "name", "") or "")
    if name:
        data["mechanism"] = name
    if pending.decoupled:
        return "app", data
    if pending.challenge_matrix:
        mime, image = pending.challenge_matrix
        data["image"] = base64.b64encode(image).decode("ascii")
        data["image_type"] = mime
        return "phototan", data
    if pending.challenge_hhduc:
        data["flicker"] = pending.challenge_hhduc
        return "flicker", data
    if re.search(r"\b(sms|mobile)", name, re.I):
        return "sms", data
    return "tan", data


# ZKA business transaction codes (GVC) of account closings: interest credited or fees charged.
CLOSING_CODES = frozenset({"805"})
INTEREST_WORDS = ("zins",)
FEE_WORDS = ("entgelt", "gebuehr", "gebühr", "kontofuehrung", "kontoführung")


def statement_kind(data: dict[str, Any], amount: Decimal) -> str:
    """A bank statement line's kind: interest and fees of account closings (by GVC or their
    posting text), everything else money the owner moved in or out."""
    text = " ".join(str(data.get(key) or "") for key in ("posting_text", "purpose")).lower()
    closing = str(data.get("transaction_code") or "") in CLOSING_CODES
    if amount > 0 and (closing or any(word in text for word in INTEREST_WORDS)):
        return "interest"
    if amount < 0 and (closing or any(word in text for word in FEE_WORDS)):
        return "fee"
    return "deposit" if amount >= 0 else "withdrawal"


def statement_flows(
    rows: list[dict[str, Any]], currency: str, start: date, end: date
) -> list[CashFlowInfo]:
    """MT940 lines (python-fints' `get_transactions` data) as flows: the booking date, the
    signed amount, an id from the line's content and its occurrence (MT940 has no unique id,
    and a re-sync must find the same line again)."""
    seen: dict[str, int] = {}
    flows = []
    for data in rows:
        raw_amount = data.get("amount")
        value = getattr(raw_amount, "amount", None)
        day = data.get("date") or data.get("entry_date")
        if value is None or day is None:
            raise MalformedAnswer("the bank sent a statement line without date or amount")
        day = date(day.year, day.month, day.day)
        if not start <= day <= end:
            continue
        amount = money.quantize(Decimal(value), money.AMOUNT_PLACES)
        line_currency = str(getattr(raw_amount, "currency", "") or currency)
        if line_currency != currency:
            raise MalformedAnswer(f"the bank sent a {line_currency} line for a {currency} account")
        purpose = str(data.get("purpose") or "")
        name = str(data.get("applicant_name") or "")
        posting = str(data.get("posting_text") or "")
        content = f"{day.isoformat()}|{amount}|{posting}|{purpose}|{name}"
        seen[content] = seen.get(content, 0) + 1
        digest = hashlib.sha256(f"{content}|{seen[content]}".encode()).hexdigest()[:32]
        flows.append(
            CashFlowInfo(
                flow_date=day,
                amount=amount,
                currency=currency,
                kind=statement_kind(data, amount),
                external_id=f"mt940:{digest}",
                description=" · ".join(t for t in (posting, purpose, name) if t)[:500],
                raw_data={
                    "source": "FinTS HKKAZ (MT940)",
                    "transaction_code": str(data.get("transaction_code") or ""),
                    "posting_text": posting,
                    "purpose": purpose,
                    "name": name,
                },
            )
        )
    return flows


def pack_session(
    client_state: bytes, dialog: bytes, pending: bytes, decoupled: bool, two_fa_type: str
) -> bytes:
    payload = {
        "v": SESSION_VERSION,
        "client": base64.b64encode(client_state).decode("ascii"),
        "dialog": base64.b64encode(dialog).decode("ascii"),
        "pending": base64.b64encode(pending).decode("ascii"),
        "decoupled": decoupled,
        "two_fa_type": two_fa_type,
    }
    return json.dumps(payload).encode()


def pack_medium_choice(client_state: bytes, media: list[str]) -> bytes:
    """Session data of a login waiting for a person to choose a TAN medium (no dialog)."""
    payload = {
        "v": SESSION_VERSION,
        "choose": CHOOSE_MEDIUM,
        "client": base64.b64encode(client_state).decode("ascii"),
        "media": media,
    }
    return json.dumps(payload).encode()


def unpack_session(blob: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(blob)
        if payload.get("v") != SESSION_VERSION:
            raise ValueError("version")
        if payload.get("choose") == CHOOSE_MEDIUM:
            payload["client"] = base64.b64decode(payload["client"], validate=True)
            if not all(isinstance(m, str) for m in payload["media"]):
                raise ValueError("media")
            return payload
        for key in ("client", "dialog", "pending"):
            payload[key] = base64.b64decode(payload[key], validate=True)
    except (ValueError, TypeError, KeyError, AttributeError, binascii.Error):
        raise AuthenticationFailed(
            "the saved login waiting for approval is unreadable; log in again"
        ) from None
    return payload


# --- transport ---------------------------------------------------------------------------


class Transport:
    """Replaces python-fints' connection: timeouts, no resending, typed errors, and the answer
    codes of every exchange (the library ignores many of them)."""

    def __init__(self, url: str, timeout: float, service: str) -> None:
        self.url = url
        self.service = service
        self.http = httpx.Client(timeout=timeout, follow_redirects=False, verify=http.tls_context())
        self.codes: list[tuple[str, str]] = []

    def send(self, message: FinTSMessage) -> FinTSInstituteMessage:
        body = base64.b64encode(message.render_bytes())
        try:
            answer = self.http.post(self.url, content=body, headers={"Content-Type": "text/plain"})
        except httpx.TimeoutException:
            raise TemporarilyUnavailable(f"{self.service} did not answer in time") from None
        except httpx.TransportError as exc:
            raise TemporarilyUnavailable(
                f"{self.service} could not be reached ({type(exc).__name__})"
            ) from None
        status = answer.status_code
        if status == 429 or status >= 500:
            raise TemporarilyUnavailable(f"{self.service} is unavailable (HTTP {status})")
        if status >= 300:
            raise MalformedAnswer(f"{self.service} refused the FinTS message (HTTP {status})")
        parsed = parse_answer(answer.content, self.service)
        self.codes.extend(response_codes(parsed))
        return parsed

    def close(self) -> None:
        self.http.close()


def parse_answer(body: bytes, service: str) -> FinTSInstituteMessage:
    """A bank's HTTP body (base64 of a FinTS message) parsed, or MalformedAnswer."""
    unreadable = MalformedAnswer(f"{service} answered something that is not a FinTS message")
    try:
        raw = base64.b64decode(b"".join(body.split()), validate=True)
        message = FinTSInstituteMessage(segments=raw)
    except Exception:  # the parser raises many kinds on garbage
        raise unreadable from None
    segments = message.segments
    if not segments or getattr(segments[0].header, "type", None) != "HNHBK":
        raise unreadable
    return message


def without_pin(client: FinTS3PinTanClient) -> bytes:
    """`client.pause_dialog()` without the PIN: the paused dialog would pickle the messages it
    sent and its signing mechanisms, all holding the PIN; both are dropped (resuming puts the
    PIN back), so session data never holds it."""
    dialog = client._standing_dialog
    dialog.messages = {direction: {} for direction in dialog.messages}
    pins = [mechanism.pin for mechanism in dialog.auth_mechanisms]
    for mechanism in dialog.auth_mechanisms:
        mechanism.pin = None
    try:
        return client.pause_dialog()
    finally:
        for mechanism, pin in zip(dialog.auth_mechanisms, pins, strict=True):
            mechanism.pin = pin


def medium_required(mechanism: Any) -> bool:
    """Whether a TAN mechanism (HITANS) wants the TAN medium's name with every login."""
    return getattr(mechanism, "description_required", None) == DescriptionRequired.MUST


class _Client(FinTS3PinTanClient):
    """python-fints' client answering raw HISAL segments and MT535 text, so that amounts stay
    Decimal (resume methods are looked up by name, so these survive a pause in a process),
    naming the chosen TAN medium whenever the mechanism requires one (the library only does
    when the bank declares more than one medium), and listing the media in a weakly
    initialised dialog (FinTS PIN/TAN specification B.3: HKTAN process 4 for HKTAB)."""

    _weak_for: str | None = None

    def _get_tan_segment(self, orig_seg: Any, tan_process: str, tan_seg: Any = None) -> Any:
        segment = super()._get_tan_segment(orig_seg, tan_process, tan_seg)
        if tan_process == "4" and self._weak_for:
            segment.segment_type = self._weak_for
            segment.tan_medium_name = None
        elif tan_process == "4" and self.selected_tan_medium:
            mechanism = self.get_tan_mechanisms().get(self.get_current_tan_mechanism())
            if medium_required(mechanism):
                segment.tan_medium_name = self.selected_tan_medium
        return segment

    def list_tan_media(self) -> list[str]:
        """The names of the user's TAN media, asked in a dialog of its own."""
        self._weak_for = "HKTAB"
        self.init_tan_response = None
        try:
            answer = self.get_tan_media()
        finally:
            self._weak_for = None
            self._bootstrap_mode = True  # get_tan_media leaves it off: 9xxx would block the PIN
        media = answer[1] if answer else []
        return [str(m.tan_medium_name) for m in media or [] if getattr(m, "tan_medium_name", None)]

    def _get_balance(self, command_seg: Any, response: Any) -> Any:
        for segment in response.response_segments(command_seg, "HISAL"):
            return segment
        return None

    def _collect_mt535(self, responses: list[Any]) -> list[str]:
        texts = []
        for segment in responses:
            holdings = segment.holdings
            texts.append(holdings.decode("iso-8859-1") if isinstance(holdings, bytes) else holdings)
        return texts

    def get_holdings_mt535(self, account: SEPAAccount) -> Any:
        with self._get_dialog() as dialog:
            hkwpd = self._find_highest_supported_command(HKWPD5, HKWPD6)
            return self._fetch_with_touchdowns(
                dialog,
                lambda touchdown: hkwpd(
                    account=hkwpd._fields["account"].type.from_sepa_account(account),
                    touchdown_point=touchdown,
                ),
                self._collect_mt535,
                "HIWPD",
            )


# --- the integration -------------------------------------------------------------------------


@dataclass
class _Account:
    info: AccountInfo
    sepa: SEPAAccount
    depot: bool


@register("dkb", "commerzbank")
class FinTSIntegration(BrokerIntegrationBase):
    secret_fields = ("pin",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._client: _Client | None = None
        self._transport: Transport | None = None
        self._leave: Callable[[], None] | None = None  # ends the standing dialog
        self._accounts: dict[str, _Account] | None = None

    @property
    def service(self) -> str:
        return self.broker.name or self.broker.code

    # --- login ---------------------------------------------------------------------------

    def authenticate(self) -> AuthResult:
        with self._errors(), self._ending_on_failure():
            client = self._new_client(self.context.state)
            if not client.get_current_tan_mechanism():
                client.fetch_tan_mechanisms()  # a synchronisation dialog: system ID, BPD, UPD
                self._check()
            chosen = choose_tan_mechanism(
                client.get_tan_mechanisms(), client.get_current_tan_mechanism()
            )
            if chosen and chosen != client.get_current_tan_mechanism():
                client.set_tan_mechanism(chosen)
            return self._open_dialog(client)

    def _open_dialog(self, client: _Client, *, media_listed: bool = False) -> AuthResult:
        """Open the standing dialog; when the bank does not know the TAN medium (9955) or
        the mechanism needs one and none is chosen, list the media: take the only one, or
        ask a person to choose (`CHOOSE_MEDIUM`)."""
        mechanism = client.get_tan_mechanisms().get(client.get_current_tan_mechanism())
        if medium_required(mechanism) and not client.selected_tan_medium and not media_listed:
            return self._choose_medium(client)
        client.__enter__()
        self._leave = lambda: client.__exit__(None, None, None)
        try:
            self._check()
        except TanMediumUnknown:
            self._end_dialog()  # the bank aborted it (9800)
            if media_listed:
                raise
            client.selected_tan_medium = None
            return self._choose_medium(client)
        pending = client.init_tan_response
        if not isinstance(pending, NeedTANResponse):
            return AuthResult(success=True)  # 3076: no SCA needed (exemption)
        return self._challenge(client, pending)

    def _choose_medium(self, client: _Client) -> AuthResult:
        self._transport_codes_reset()
        media = client.list_tan_media()
        self._check()
        if not media:
            raise FinTSRejected(
                f"{self.service} asks for a TAN medium (9955: device name unknown) but lists "
                "none for this login: activate a device for the TAN procedure in online banking"
            )
        if len(media) == 1:
            client.selected_tan_medium = media[0]  # kept in export_state() for next time
            return self._open_dialog(client, media_listed=True)
        message = (
            f"{self.service} needs to know which of your TAN media (devices) to use: "
            f"{', '.join(media)}"
        )
        return AuthResult(
            success=False,
            requires_2fa=True,
            two_fa_type=CHOOSE_MEDIUM,
            session_data=pack_medium_choice(client.deconstruct(including_private=True), media),
            error_message=message,
            challenge_data={"text": message, "options": media},
        )

    def _chosen_medium(self, saved: dict[str, Any], choice: str | None) -> AuthResult:
        """A person's choice among the listed media, then the login with it."""
        media = list(saved["media"])
        picked = next((m for m in media if m == (choice or "").strip()), None)
        if picked is None:
            picked = next((m for m in media if m.lower() == (choice or "").strip().lower()), None)
        if picked is None:
            raise FinTSRejected(
                f"{self.service} has no TAN medium of that name; choose one of: {', '.join(media)}"
            )
        with self._errors(), self._ending_on_failure():
            client = self._new_client(saved["client"])
            client.selected_tan_medium = picked
            return self._open_dialog(client, media_listed=True)

    def complete_2fa(self, auth_code: str | None, session_data: bytes | None) -> AuthResult:
        if not session_data:
            raise AuthenticationFailed(f"{self.service}: no login is waiting for approval")
        saved = unpack_session(session_data)
        if saved.get("choose") == CHOOSE_MEDIUM:
            return self._chosen_medium(saved, auth_code)
        with self._errors(), self._ending_on_failure():
            client = self._new_client(saved["client"])
            resumed = client.resume_dialog(saved["dialog"])
            resumed.__enter__()
            for mechanism in client._standing_dialog.auth_mechanisms:
                mechanism.pin = client.pin  # paused without it (see `without_pin`)
            self._leave = lambda: resumed.__exit__(None, None, None)
            pending = NeedRetryResponse.from_data(saved["pending"])
            pending.decoupled = bool(saved["decoupled"])  # the blob does not keep it
            if pending.decoupled:
                return self._wait_for_app(client, pending)
            if not auth_code:
                raise AuthenticationFailed(f"{self.service} needs the TAN to finish the login")
            self._transport_codes_reset()
            result = client.send_tan(pending, auth_code.strip())
            self._check()
            if isinstance(result, NeedTANResponse):
                return self._challenge(client, result)
            return AuthResult(success=True)

    def _challenge(self, client: _Client, pending: NeedTANResponse) -> AuthResult:
        mechanism = client.get_tan_mechanisms().get(client.get_current_tan_mechanism())
        if mechanism is not None and is_decoupled(mechanism):
            pending.decoupled = True  # e.g. 940 answered with 0030 instead of 3955
        if pending.decoupled:
            return self._wait_for_app(client, pending)
        two_fa_type, data = challenge_data(pending, mechanism)
        session = self._pause(client, pending, two_fa_type)
        return AuthResult(
            success=False,
            requires_2fa=True,
            two_fa_type=two_fa_type,
            session_data=session,
            challenge_data=data,
        )

    def _wait_for_app(self, client: _Client, pending: NeedTANResponse) -> AuthResult:
        """Poll the app approval; pause and raise TwoFactorRequired when nobody approves."""
        deadline = time.monotonic() + max(0.0, self.context.two_fa_wait_seconds)
        while True:
            time.sleep(max(0.0, self.context.poll_interval_seconds))
            self._transport_codes_reset()
            result = client.send_tan(pending, "")
            self._check()
            if not isinstance(result, NeedTANResponse):
                return AuthResult(success=True)
            pending = result
            pending.decoupled = True
            if time.monotonic() >= deadline:
                break
        two_fa_type, data = challenge_data(pending, None)
        session = self._pause(client, pending, two_fa_type)
        raise TwoFactorRequired(
            f"{self.service} waits for the login to be approved in the banking app",
            AuthResult(
                success=False,
                requires_2fa=True,
                two_fa_type="app",
                session_data=session,
                challenge_data=data,
            ),
        )

    def _pause(self, client: _Client, pending: NeedTANResponse, two_fa_type: str) -> bytes:
        dialog = without_pin(client)
        if self._leave:
            self._leave()  # a paused dialog is left without ending it
            self._leave = None
        return pack_session(
            client.deconstruct(including_private=True),
            dialog,
            pending.get_data(),
            bool(pending.decoupled),
            two_fa_type,
        )

    # --- reads ---------------------------------------------------------------------------

    def get_accounts(self) -> list[AccountInfo]:
        return [account.info for account in self._load_accounts().values()]

    def get_balance(self, account_identifier: str) -> BalanceInfo:
        account = self._account(account_identifier)
        if account.depot:  # a depot's value is the sum of its holdings (no HKSAL)
            holdings = self._holdings(account)
            positions = [position(h, account.info.currency) for h in holdings]
            dates = [h.price_date for h in holdings if h.price_date]
            return BalanceInfo(
                balance=sum((p.market_value for p in positions), Decimal("0")),
                currency=positions[0].currency if positions else account.info.currency,
                balance_date=max(dates) if dates else self.context.current_day(),
                raw_data={"source": "HKWPD", "positions": len(positions)},
            )
        client = self._session()
        with self._errors():
            self._transport_codes_reset()
            hisal = self._settle(client, client.get_balance(account.sepa))
            self._check()
        if hisal is None:
            raise MalformedAnswer(f"{self.service} sent no balance for {account_identifier}")
        fields = hisal_fields(hisal, self.service)
        balance = parse_balance(fields, self.context.current_day())
        secrets = [str(v) for k, v in self.credentials.items() if k in self.secret_fields]
        raw = redact(fields, self.secret_fields, secret_values=secrets)
        return BalanceInfo(
            balance.balance, balance.currency, balance.balance_date, balance.available_balance, raw
        )

    def get_positions(self, account_identifier: str) -> list[PositionInfo]:
        account = self._account(account_identifier)
        if not account.depot:
            return []
        return [position(h, account.info.currency) for h in self._holdings(account)]

    def supports_cash_flows(self) -> bool:
        return True

    def cash_flow_span(
        self, account_identifier: str, start_date: date, end_date: date
    ) -> tuple[date, date] | None:
        """Statements cover bank accounts, not depots (their flows are not in MT940)."""
        return None if self._account(account_identifier).depot else (start_date, end_date)

    def get_cash_flows(
        self, account_identifier: str, start_date: date, end_date: date
    ) -> list[CashFlowInfo]:
        """The account's booked transactions (HKKAZ, MT940 through `get_transactions`); the
        bank may ask for an approval for more than about 90 days."""
        account = self._account(account_identifier)
        if account.depot:
            return []
        client = self._session()
        with self._errors():
            self._transport_codes_reset()
            transactions = self._settle(
                client, client.get_transactions(account.sepa, start_date, end_date)
            )
            self._check()
            return statement_flows(
                [t.data for t in transactions or []], account.info.currency, start_date, end_date
            )

    def _holdings(self, account: _Account) -> list[Holding]:
        client = self._session()
        with self._errors():
            self._transport_codes_reset()
            texts = self._settle(client, client.get_holdings_mt535(account.sepa))
            self._check()
            return [holding for text in texts or [] for holding in parse_mt535(text)]

    def export_state(self) -> bytes | None:
        if self._client is None:
            return self.context.state
        return self._client.deconstruct(including_private=True)

    def close(self) -> None:
        self._end_dialog()
        if self._transport is not None:
            self._transport.close()

    def _end_dialog(self) -> None:
        if self._leave is not None:
            leave, self._leave = self._leave, None
            try:
                leave()  # HKEND
            except Exception:  # ending the dialog is a courtesy
                log.info("%s: ending the FinTS dialog failed", self.service)

    @contextmanager
    def _ending_on_failure(self) -> Iterator[None]:
        """A login that failed with its dialog open ends it (a resumed dialog left to the
        garbage collector would end itself at a random moment)."""
        try:
            yield
        except BaseException:
            self._end_dialog()
            raise

    # --- internals -------------------------------------------------------------------------

    @classmethod
    def configuration_problems(
        cls, broker: BrokerConfig, context: IntegrationContext
    ) -> list[str]:
        problems = []
        if not (context.fints_product_id or "").strip():
            problems.append(PRODUCT_ID_MISSING)
        if not broker.bank_identifier or not broker.fints_server:
            problems.append("the catalogue entry needs bank_identifier and fints_server")
        return problems

    def _new_client(self, state: bytes | None) -> _Client:
        problems = self.configuration_problems(self.broker, self.context)
        if problems:
            # Nothing was sent: the bank did not refuse anything, this machine is not set up.
            raise ConfigurationProblem(f"{self.service}: {'; '.join(problems)}")
        product_id = (self.context.fints_product_id or "").strip()
        username = str(self.credentials.get("username") or "").strip()
        pin = str(self.credentials.get("pin") or "")
        if not username or not pin:
            raise AuthenticationFailed(f"{self.service} needs a username and a PIN")
        arguments = dict(
            bank_identifier=self.broker.bank_identifier,
            user_id=username,
            pin=pin,
            server=self.broker.fints_server,
            product_id=product_id,
        )
        try:
            client = _Client(**arguments, from_data=state) if state else _Client(**arguments)
        except Exception:  # unreadable saved state: start afresh
            log.warning("%s: the saved FinTS state is unreadable; starting afresh", self.service)
            client = _Client(**arguments)
        if self._transport is not None:
            self._transport.close()
        self._transport = Transport(
            self.broker.fints_server, self.context.timeout_seconds, self.service
        )
        client.connection = self._transport
        self._client = client
        self._accounts = None
        return client

    def _session(self) -> _Client:
        if self._client is None or self._leave is None:
            raise AuthenticationFailed(f"{self.service}: not logged in (authenticate first)")
        return self._client

    def _transport_codes_reset(self) -> None:
        if self._transport is not None:
            self._transport.codes.clear()

    def _check(self) -> None:
        """Raise the typed error for any error code the bank answered since the last reset."""
        if self._transport is None:
            return
        error = bank_error(self._transport.codes, self.service)
        self._transport.codes.clear()
        if error is not None:
            raise error

    def _settle(self, client: _Client, result: Any) -> Any:
        """A read's result, after an app approval if the bank asks for one."""
        if not isinstance(result, NeedTANResponse):
            return result
        mechanism = client.get_tan_mechanisms().get(client.get_current_tan_mechanism())
        if not (result.decoupled or (mechanism is not None and is_decoupled(mechanism))):
            raise TwoFactorRequired(
                f"{self.service} asks for a TAN to read this account; run the sync while present",
                AuthResult(success=False, requires_2fa=True, two_fa_type="tan"),
            )
        result.decoupled = True
        deadline = time.monotonic() + max(0.0, self.context.two_fa_wait_seconds)
        while isinstance(result, NeedTANResponse):
            if time.monotonic() >= deadline:
                raise TwoFactorRequired(
                    f"{self.service} waits for this read to be approved in the banking app",
                    AuthResult(success=False, requires_2fa=True, two_fa_type="app"),
                )
            time.sleep(max(0.0, self.context.poll_interval_seconds))
            result = client.send_tan(result, "")
            self._check()
            if isinstance(result, NeedTANResponse):
                result.decoupled = True
        return result

    def _load_accounts(self) -> dict[str, _Account]:
        if self._accounts is not None:
            return self._accounts
        client = self._session()
        with self._errors():
            self._transport_codes_reset()
            sepa_accounts = self._settle(client, client.get_sepa_accounts())
            self._check()
            upd = client.get_information().get("accounts", [])
        self._accounts = build_accounts(sepa_accounts or [], upd, self.broker.bank_identifier)
        return self._accounts

    def _account(self, identifier: str) -> _Account:
        accounts = self._load_accounts()
        if identifier not in accounts:
            raise FinTSRejected(f"{self.service} has no account {identifier} for this login")
        return accounts[identifier]

    @contextmanager
    def _errors(self) -> Iterator[None]:
        """Every failure as a typed error with a scrubbed message, never a library exception."""
        try:
            yield
        except BrokerError as exc:
            raise self._scrubbed(exc) from None
        except Exception as exc:  # python-fints raises bare Exceptions too
            raise self._scrubbed(self._translate(exc)) from None

    def _translate(self, exc: BaseException) -> BrokerError:
        cause: BaseException | None = exc
        while cause is not None:  # our transport's error, wrapped by the dialog
            if isinstance(cause, BrokerError):
                return cause
            cause = cause.__cause__ or cause.__context__
        codes = self._transport.codes if self._transport else []
        known = bank_error(codes, self.service)
        if self._transport is not None:
            self._transport.codes.clear()
        if isinstance(exc, FinTSClientPINError):
            return known or AuthenticationFailed(
                f"{self.service} rejected the login (wrong PIN or username). It is not retried: "
                "banks lock online banking after a few wrong attempts."
            )
        if isinstance(exc, FinTSClientTemporaryAuthError):
            return known or AuthenticationFailed(
                f"{self.service} has temporarily locked online banking access (3938)"
            )
        if known is not None:
            return known
        if isinstance(exc, FinTSSCARequiredError):
            return TwoFactorRequired(
                f"{self.service} asks for strong authentication; log in again",
                AuthResult(success=False, requires_2fa=True),
            )
        if isinstance(exc, FinTSConnectionError):
            return TemporarilyUnavailable(f"{self.service} could not be reached")
        if isinstance(exc, FinTSUnsupportedOperation):
            return FinTSRejected(f"{self.service} does not offer this over FinTS")
        if isinstance(exc, FinTSError):
            return TemporarilyUnavailable(
                f"{self.service}: the FinTS dialog failed ({type(exc).__name__})"
            )
        log.warning("%s: unexpected FinTS failure %s", self.service, type(exc).__name__)
        return MalformedAnswer(
            f"{self.service} answered in a way this client does not understand "
            f"({type(exc).__name__})"
        )

    def _scrubbed(self, error: BrokerError) -> BrokerError:
        text = self.scrub(str(error))
        if text == str(error):
            return error
        if isinstance(error, TwoFactorRequired):
            return TwoFactorRequired(text, error.auth)
        return type(error)(text)


def build_accounts(
    sepa_accounts: list[SEPAAccount], upd: list[dict[str, Any]], blz: str
) -> dict[str, _Account]:
    """Accounts by identifier (IBAN, or the depot number): SEPA accounts from HKSPA, named
    and typed from the user parameters (UPD); depots, which have no IBAN, from the UPD."""
    by_iban = {a.iban: a for a in sepa_accounts if a.iban}
    bic = next((a.bic for a in sepa_accounts if a.bic), None) or "XXXXDEXX"
    accounts: dict[str, _Account] = {}
    for entry in upd:
        iban = entry.get("iban")
        number = str(entry.get("account_number") or "")
        kind = account_type(entry.get("type"))
        name = entry.get("product_name") or f"Account {iban or number}"
        currency = entry.get("currency") or "EUR"
        if iban and iban in by_iban:
            sepa = by_iban[iban]
        elif is_depot(entry) and number:
            subaccount = entry.get("subaccount_number")
            sepa = SEPAAccount(
                iban=None, bic=bic, accountnumber=number, subaccount=subaccount, blz=blz
            )
        else:
            continue
        identifier = iban or number
        accounts[identifier] = _Account(
            AccountInfo(identifier, str(name), kind, str(currency)), sepa, is_depot(entry)
        )
    for iban, sepa in by_iban.items():  # SEPA accounts the UPD does not describe
        if iban not in accounts:
            accounts[iban] = _Account(
                AccountInfo(iban, f"Account {iban}", "checking", "EUR"), sepa, False
            )
    return accounts
