"""A local Morgan Stanley at Work GraphQL endpoint (unofficial; the schema below is this
project's model of it, kept in one place).

`POST /graphql` with `Authorization: Bearer <JWT>` and `employeeid: <id>`, body
`{query, variables?, operationName?}`. The schema served:

    type Query { portfolio: Portfolio }
    type Portfolio {
      asOfDate: String          # YYYY-MM-DD
      currency: String          # USD
      availableValue: Float     # vested: can be sold or transferred
      unavailableValue: Float   # unvested awards
      holdings: [Holding]
    }
    type Holding { symbol: String name: String quantity: Float price: Float value: Float
                   vested: Boolean }

There is no balance history in the API. Failures, as the gateway and Apollo answer them:
- no, malformed or badly signed bearer token: HTTP 401 `{"message": "Unauthorized"}`;
- an expired token (or one without `exp`, or of a session ended in the browser, `revoked`):
  HTTP 200 `{"data": null, "errors": [{"message": "...jwt expired", "extensions": {"code":
  "UNAUTHENTICATED"}}]}`;
- an `employeeid` header other than the token's: HTTP 200, code `FORBIDDEN`;
- a field the schema does not have: HTTP 400, code `GRAPHQL_VALIDATION_FAILED`;
- a body that is not JSON: HTTP 400, code `BAD_REQUEST`;
- queued `graphql_errors` answer HTTP 200 with that error (e.g. `INTERNAL_SERVER_ERROR`).
Tokens are HS256 JWTs signed with the fake's key (`make_jwt`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import threading
import time
from decimal import Decimal
from typing import Any

from tests.fakes.server import FakeService, Request, Response
from tests.fakes.webjson import answer

AS_OF = "2024-06-14"
PRICE = Decimal("187.40")
# (name, quantity, vested): one row per lot, as the plan statement lists them
HOLDINGS = [
    ("Acme Corp. Common Stock", Decimal("120"), True),  # released RSUs
    ("Acme Corp. Common Stock", Decimal("35.5"), True),  # ESPP purchases
    ("Acme Corp. Common Stock", Decimal("80"), False),  # RSUs still vesting
]
FIELDS = {
    "query",
    "portfolio",
    "asOfDate",
    "currency",
    "availableValue",
    "unavailableValue",
    "holdings",
    "symbol",
    "name",
    "quantity",
    "price",
    "value",
    "vested",
    "__typename",
}


def holding_value(quantity: Decimal) -> Decimal:
    return (quantity * PRICE).quantize(Decimal("0.01"))


def vested_value() -> Decimal:
    return sum((holding_value(q) for _, q, vested in HOLDINGS if vested), Decimal("0.00"))


def unvested_value() -> Decimal:
    return sum((holding_value(q) for _, q, vested in HOLDINGS if not vested), Decimal("0.00"))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _error(message: str, code: str, status: int = 200) -> Response:
    return answer(
        {"data": None, "errors": [{"message": message, "extensions": {"code": code}}]}, status
    )


class FakeMorganStanley(FakeService):
    def __init__(self) -> None:
        super().__init__()
        self.key = secrets.token_bytes(32)
        self.graphql_errors: list[dict[str, Any]] = []
        self.revoked: set[str] = set()  # tokens of sessions logged out in the browser
        self._state_lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"{self.base_url}/graphql"

    def reset(self) -> None:
        super().reset()
        with self._state_lock:
            self.graphql_errors.clear()
            self.revoked.clear()

    def make_jwt(
        self, employee_id: str, expires_in: float | None = 3600, key: bytes | None = None
    ) -> str:
        """A session token as the web app holds it after login (HS256, `exp` in seconds;
        without `exp` when `expires_in` is None, which this service treats as expired)."""
        now = int(time.time())
        header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        claims = {"sub": f"user-{employee_id}", "employeeId": employee_id, "iat": now}
        if expires_in is not None:
            claims["exp"] = now + int(expires_in)
        payload = _b64(json.dumps(claims).encode())
        signature = hmac.new(key or self.key, f"{header}.{payload}".encode(), hashlib.sha256)
        return f"{header}.{payload}.{_b64(signature.digest())}"

    def _claims(self, token: str) -> dict[str, Any] | None:
        """The token's claims when its signature is ours, else None (expiry checked later)."""
        try:
            header, payload, signature = token.split(".")
            expected = hmac.new(self.key, f"{header}.{payload}".encode(), hashlib.sha256)
            if not hmac.compare_digest(_unb64(signature), expected.digest()):
                return None
            claims = json.loads(_unb64(payload))
        except (ValueError, TypeError):
            return None
        return claims if isinstance(claims, dict) else None

    def route(self, request: Request) -> Response:
        if request.path != "/graphql":
            return Response(404, b"<html><body>Not Found</body></html>", "text/html")
        if request.method != "POST":
            return answer({"message": "Method not allowed"}, 405)
        auth = request.headers.get("authorization", "")
        claims = self._claims(auth[len("Bearer ") :]) if auth.startswith("Bearer ") else None
        if claims is None:
            return answer({"message": "Unauthorized"}, 401)
        if claims.get("exp", 0) <= time.time():
            return _error("Context creation failed: jwt expired", "UNAUTHENTICATED")
        if auth[len("Bearer ") :] in self.revoked:
            return _error("Context creation failed: session ended", "UNAUTHENTICATED")
        if request.headers.get("employeeid") != claims.get("employeeId"):
            return _error("Employee is not authorized for this session", "FORBIDDEN")
        try:
            query = request.json()["query"]
            if not isinstance(query, str):
                raise TypeError
        except (ValueError, KeyError, TypeError):
            return _error(
                "POST body missing, invalid Content-Type, or JSON object has no keys.",
                "BAD_REQUEST",
                400,
            )
        for word in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", query):
            if word not in FIELDS and not word[0].isupper():
                return _error(
                    f'Cannot query field "{word}" on type "Portfolio".',
                    "GRAPHQL_VALIDATION_FAILED",
                    400,
                )
        with self._state_lock:
            queued = self.graphql_errors.pop(0) if self.graphql_errors else None
        if queued is not None:
            return answer({"data": None, "errors": [queued]})
        portfolio: dict[str, Any] = {
            "asOfDate": AS_OF,
            "currency": "USD",
            "availableValue": vested_value(),
            "unavailableValue": unvested_value(),
        }
        if "holdings" in query:
            portfolio["holdings"] = [
                {
                    "symbol": "ACME",
                    "name": name,
                    "quantity": quantity,
                    "price": PRICE,
                    "value": holding_value(quantity),
                    "vested": vested,
                }
                for name, quantity, vested in HOLDINGS
            ]
        return answer({"data": {"portfolio": portfolio}})
