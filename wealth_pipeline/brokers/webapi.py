"""Shared by the integrations of (unofficial) JSON web APIs: True Wealth, VIAC, Morgan Stanley.

One cookie-keeping httpx client per integration, JSON read without floats, and every surprise
in an answer's shape turned into a typed error whose message names what was expected, never a
secret. The integrations themselves stay small: endpoints, login flow and mapping.

The web apps behind these APIs answer browsers: public clients of True Wealth and VIAC send a
browser User-Agent (lsgd/WealthTracker, smartpointer-com/wealthdb `collectors/viac/
viac_client.py`), so `BROWSER_USER_AGENT` is what they get. Session cookies can be saved and
restored (`dump_cookies`/`load_cookies`) so a login waiting for a code, or a live session, can
be picked up by another process.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar

import httpx

from wealth_pipeline import http, money
from wealth_pipeline.brokers.base import (
    AuthenticationFailed,
    AuthResult,
    BrokerIntegrationBase,
    MalformedAnswer,
)
from wealth_pipeline.brokers.redact import redact

BROWSER_USER_AGENT = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
LOGIN_RETRY = http.Retry(max_attempts=1)  # a login or a code is sent once: never repeated
STATE_VERSION = 1
# A name/value pair of a cookie that may be restored: printable, no separators.
_COOKIE_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}$")


class PersonNeeded(AuthenticationFailed):
    """A session only a person can renew (an SMS code, a pasted token): never retried, and the
    account waits for that person (`needs_person`) instead of failing."""

    needs_person: ClassVar[bool] = True

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.auth = AuthResult(success=False, error_message=message)


def new_client(
    base_url: str, timeout_seconds: float, headers: Mapping[str, str] | None = None
) -> httpx.Client:
    """A client that keeps the service's cookies (session, XSRF) and follows no redirect;
    paths are relative to `base_url` ("" for a client given full URLs). `headers` are sent
    with every request (the browser header set a web app expects)."""
    return httpx.Client(
        base_url=base_url.rstrip("/"),
        timeout=timeout_seconds,
        follow_redirects=False,
        headers={"User-Agent": BROWSER_USER_AGENT, "Accept": "application/json", **(headers or {})},
        verify=http.tls_context(),
    )


def dump_cookies(client: httpx.Client, **extra: Any) -> bytes:
    """The client's cookies (and `extra` facts) as bytes to keep: secret, encrypt them."""
    cookies = [
        {"name": c.name, "value": c.value, "domain": c.domain, "path": c.path}
        for c in client.cookies.jar
    ]
    return json.dumps({"version": STATE_VERSION, "cookies": cookies, **extra}).encode()


def load_cookies(client: httpx.Client, state: bytes) -> dict[str, Any]:
    """Put the cookies of `dump_cookies` back into `client`; the extra facts are returned.

    Raises ValueError for anything that is not such a state (the caller says what it means).
    """
    try:
        loaded = json.loads(state)
        if not isinstance(loaded, dict) or loaded.get("version") != STATE_VERSION:
            raise ValueError("another version")
        for cookie in loaded["cookies"]:
            name, value = str(cookie["name"]), str(cookie["value"])
            if not _COOKIE_NAME.match(name):
                raise ValueError("not a cookie name")
            client.cookies.set(name, value, domain=str(cookie["domain"]), path=str(cookie["path"]))
    except (ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
        raise ValueError(f"not a saved session ({type(exc).__name__})") from None
    return {key: value for key, value in loaded.items() if key not in ("version", "cookies")}


def parse_json(response: httpx.Response, service: str, what: str) -> Any:
    """The answer's JSON (non-integers as Decimal); HTML, garbage or a cut body is malformed."""
    try:
        return money.loads_json(response.content)
    except (ValueError, UnicodeDecodeError):
        kind = response.headers.get("content-type", "unknown").split(";")[0].strip()
        raise MalformedAnswer(
            f"{service} answered something other than JSON for {what} ({kind or 'no type'}, "
            f"{len(response.content)} bytes): the service may be down for maintenance"
        ) from None


def error_code(exc: http.HttpFailure) -> str:
    """The `error`/`code` field of a JSON error body, upper-cased ('' when there is none)."""
    try:
        body = money.loads_json(exc.body)
    except ValueError:
        return ""
    if not isinstance(body, Mapping):
        return ""
    for key in ("error", "code", "errorCode"):
        value = body.get(key)
        if isinstance(value, str):
            return value.strip().upper()
    return ""


def json_api_error_codes(body: str | bytes) -> list[str]:
    """The `code` of each error of a JSON:API error envelope `{errors: [{code}]}`, upper-cased
    (VIAC's errors, smartpointer-com/wealthdb `collectors/viac/login.py`)."""
    try:
        payload = money.loads_json(body)
    except (ValueError, UnicodeDecodeError):
        return []
    errors = payload.get("errors") if isinstance(payload, Mapping) else None
    codes = []
    for error in errors if isinstance(errors, list) else []:
        code = error.get("code") if isinstance(error, Mapping) else None
        if isinstance(code, str) and code.strip():
            codes.append(code.strip().upper())
    return codes


@contextmanager
def reading(service: str, what: str, scrub: Callable[[str], str]) -> Iterator[None]:
    """Turn a missing key, a wrong type or a bad number while mapping an answer into
    MalformedAnswer naming the answer (`what`)."""
    try:
        yield
    except KeyError as exc:
        raise MalformedAnswer(f"{service} sent {what} without the field {exc}") from None
    except (TypeError, ValueError, InvalidOperation, AttributeError, IndexError) as exc:
        raise MalformedAnswer(scrub(f"{service} sent {what} that cannot be read: {exc}")) from None


def parse_day(value: Any) -> date:
    """A day from 'YYYY-MM-DD' or an ISO timestamp ('YYYY-MM-DDThh:mm:ssZ')."""
    if not isinstance(value, str):
        raise TypeError(f"a date must be text, got {type(value).__name__}")
    return date.fromisoformat(value.strip()[:10])


def opened_on(days: Iterable[tuple[date, Decimal]]) -> date | None:
    """The first day whose value is not zero: the daily series of True Wealth and VIAC report
    zeros before the first contribution (sboehler/fin `src/importer/{truewealth,viac}.rs`), and
    those days are no balance. A zero after that (an emptied portfolio) is one."""
    return min((day for day, value in days if value != 0), default=None)


def exact(value: Any) -> Decimal:
    """A number exactly as the service sent it (for raw_data: no rounding at all)."""
    return money.to_decimal(value)


def amount(value: Any) -> Decimal:
    return money.quantize(money.to_decimal(value), money.AMOUNT_PLACES)


def quantity(value: Any) -> Decimal:
    return money.quantize(money.to_decimal(value), money.QUANTITY_PLACES)


def price(value: Any) -> Decimal | None:
    if value is None:
        return None
    return money.quantize(money.to_decimal(value), money.PRICE_PLACES)


def currency(value: Any, default: str) -> str:
    """An ISO 4217 code, upper-case; `default` when the answer leaves it out."""
    if value is None:
        return default
    code = str(value).strip().upper()
    if len(code) != 3 or not code.isalpha():
        raise ValueError(f"not a currency code: {code!r}")
    return code


def mapping(value: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise TypeError(f"{what} must be an object, got {type(value).__name__}")
    return value


def items(value: Any, what: str) -> list[Any]:
    if not isinstance(value, list):
        raise TypeError(f"{what} must be a list, got {type(value).__name__}")
    return value


def clean_raw(integration: BrokerIntegrationBase, raw: Mapping[str, Any]) -> dict[str, Any]:
    """`raw` without the account's secrets or any session state, fit for `raw_data`."""
    values = [
        value
        for name in integration.secret_fields
        if isinstance(value := integration.credentials.get(name), str)
    ]
    return redact(raw, integration.secret_fields, secret_values=values)
