"""Lean JSON bodies: money as strings, dates ISO, built without per-object validation.

Endpoints return a `Response` built here, so FastAPI does not validate or re-encode
thousands of objects per request (their `response_model`s still document the shapes).
"""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from fastapi import Response

from wealth_pipeline import money

PERCENT_PLACES = 2
# Tokens and wealth are nobody's to keep: no browser or proxy cache may store an answer
# (RFC 6749 5.1 asks it of token answers), and the type is not to be guessed.
HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}


def text(value: Decimal | None) -> str | None:
    """A money value as its exact string (None stays None)."""
    return None if value is None else str(value)


def day(value: date | datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def percentage(part: Decimal, total: Decimal) -> str:
    """`part` as a share of `total` in percent, rounded once, half-even, to 2 places."""
    if total == 0:
        return str(money.quantize(Decimal(0), PERCENT_PLACES))
    return str(money.divide(part * 100, total, PERCENT_PLACES))


def json_response(content: Any, status_code: int = 200) -> Response:
    encoded = json.dumps(content, default=money.json_default, separators=(",", ":"))
    return raw_json(encoded, status_code)


def raw_json(encoded: str | bytes, status_code: int = 200, etag: str | None = None) -> Response:
    headers = HEADERS if etag is None else {**HEADERS, "ETag": etag}
    return Response(
        content=encoded, status_code=status_code, media_type="application/json", headers=headers
    )
