"""Shared by the integrations of (unofficial) JSON web APIs: True Wealth, VIAC, Morgan Stanley.

One cookie-keeping httpx client per integration, JSON read without floats, and every surprise
in an answer's shape turned into a typed error whose message names what was expected, never a
secret. The integrations themselves stay small: endpoints, login flow and mapping.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

import httpx

from wealth_pipeline import http, money
from wealth_pipeline.brokers.base import (
    BrokerIntegrationBase,
    MalformedAnswer,
)
from wealth_pipeline.brokers.redact import redact

USER_AGENT = "wealth-pipeline/0.1 (+self-hosted wealth tracker)"
LOGIN_RETRY = http.Retry(max_attempts=1)  # a login or a code is sent once: never repeated


def new_client(base_url: str, timeout_seconds: float) -> httpx.Client:
    """A client that keeps the service's cookies (session, XSRF) and follows no redirect;
    paths are relative to `base_url` ("" for a client given full URLs)."""
    return httpx.Client(
        base_url=base_url.rstrip("/"),
        timeout=timeout_seconds,
        follow_redirects=False,
        headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
        verify=http.tls_context(),
    )


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
