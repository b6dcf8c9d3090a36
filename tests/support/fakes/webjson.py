"""JSON the way web APIs send it, for the fakes of True Wealth, VIAC and Morgan Stanley:
Decimals written as plain JSON numbers with their exact digits (`12.50`, not `"12.50"`), and
the request's cookies read back.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from http.cookies import SimpleCookie
from typing import Any

from tests.support.fakes.server import Request, Response

_MARK = "\u2063num:"
_MARKED = re.compile(r'"\\u2063num:([-0-9.eE+]+)"')


def _mark(value: Any) -> Any:
    if isinstance(value, Decimal):
        return f"{_MARK}{value}"
    if isinstance(value, dict):
        return {key: _mark(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_mark(item) for item in value]
    return value


def dumps(payload: Any) -> str:
    """`payload` as JSON, each Decimal a number with exactly its digits."""
    return _MARKED.sub(r"\1", json.dumps(_mark(payload)))


def answer(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(status, dumps(payload).encode(), "application/json", headers or {})


def cookies(request: Request) -> dict[str, str]:
    jar: SimpleCookie = SimpleCookie()
    jar.load(request.headers.get("cookie", ""))
    return {name: morsel.value for name, morsel in jar.items()}
