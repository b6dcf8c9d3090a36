"""A local Morgan Stanley at Work API (atwork.morganstanley.com; unofficial).

Each behaviour and its source (`/work/shared/reference/brokers.md`, "Morgan Stanley at Work"):
- `POST /graphql` with header `authorization: <JWT>`, the raw token without `Bearer `, and
  header `employeeid: <employeePK>` (schulluk/WealthTracker `docs/morgan-stanley-integration.md`
  and lsgd/WealthTracker `backend/brokers/integrations/morganstanley.py`: "Morgan Stanley expects
  lowercase 'authorization' header without Bearer prefix"). The employee PK is not the JWT's
  `sub` (the account PK): a wrong employee id answers 500, a missing one 400 (same doc,
  "Common Errors"). GUESS: the bodies of those two answers.
- Tokens are RS256 JWTs that live 900 seconds (same doc, "Token characteristics"; claims `sub`
  = accountPK, `ses`). A token that is expired or not ours is refused with the message
  "invalid token signature" (same doc). GUESS: the status; the original handles it both in a
  non-200 answer and in a 200 with `errors`, so this fake answers 401 by default and a 200
  with `errors` when `expired_as_200` (tests run both). A `Bearer ` prefix makes the token
  unreadable, so it is refused the same way (GUESS: same answer).
- Portfolio query (same doc, "Working GraphQL Query", and sebastianstarke-asot/
  morganstanley-moneymoney `MorganStanley.lua`): `portfolio { availableValue { amount currency }
  unavailableValue { amount currency } totalValue { amount currency } }` with `operationName`
  and `variables`; amounts are strings inside money objects (`"301855.10852"`).
- Renewal: `POST /rest/participant/v2/auth/tokens {authType: "ACCESS_TOKEN", accessToken:
  <old>}` with `Authorization: Bearer <old>` (schulluk/WealthTracker docs, "Token lifecycle &
  TTL") -> a fresh 900-second token. Sources disagree on the answer's shape: the mint answer
  is `{accessToken: {accessToken, expiresIn, tokenType, scope}, ...}` in schulluk's doc and
  `{accessToken: "<jwt>"}` in the MoneyMoney extension; `flat_token_answer` switches.
  GUESS: that refresh answers like the mint, and 401 for an old token that is no longer valid.
- Holdings: GUESS throughout. No source confirms a holdings query; the original tries a
  top-level `holdings { symbol name quantity currentPrice {..} marketValue {..} costBasis {..}
  grantType vestingStatus }`. By default this fake refuses it like a GraphQL server refuses an
  unknown field (400, GRAPHQL_VALIDATION_FAILED: GUESS); `holdings_supported` answers it.
"""

from __future__ import annotations

import re
import threading
import time
from decimal import Decimal
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.support.fakes.server import FakeService, Request, Response
from tests.support.fakes.webjson import answer

EMPLOYEE_PK = "37493646648"
ACCOUNT_PK = "37498936179"  # the JWT's sub: not the employee id
AVAILABLE = "244380.1"
UNAVAILABLE = "301855.10852"
TOTAL = "546235.20852"
LIFETIME_SECONDS = 900
PORTFOLIO_FIELDS = {"portfolio", "availableValue", "unavailableValue", "totalValue"}
MONEY_FIELDS = {"amount", "currency"}
HOLDING_FIELDS = {
    "holdings",
    "symbol",
    "name",
    "quantity",
    "currentPrice",
    "marketValue",
    "costBasis",
    "grantType",
    "vestingStatus",
}
KEYWORDS = {"query", "__typename"}


def money(amount: str, currency: str = "USD") -> dict[str, str]:
    return {"amount": amount, "currency": currency}


def _errors(message: str, status: int, code: str | None = None) -> Response:
    error: dict[str, Any] = {"message": message}
    if code:
        error["extensions"] = {"code": code}
    return answer({"data": None, "errors": [error]}, status)


class FakeMorganStanley(FakeService):
    def __init__(self, employee_pk: str = EMPLOYEE_PK) -> None:
        super().__init__()
        self.employee_pk = employee_pk
        self._private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self._public_key = self._private_key.public_key()
        self._foreign_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self._state_lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        super().reset()
        with self._state_lock:
            self.clock_offset_seconds = 0.0  # the service's clock minus ours
            self.expired_as_200 = False
            self.flat_token_answer = False
            self.holdings_supported = False
            self.issued: list[str] = []  # tokens minted by renewal

    def now(self) -> float:
        return time.time() + self.clock_offset_seconds

    def make_jwt(self, expires_in: float = LIFETIME_SECONDS, foreign: bool = False) -> str:
        """A token as the web app holds it (RS256, `exp` = now + expires_in on the service's
        clock); `foreign` signs it with a key that is not the service's."""
        now = int(self.now())
        claims = {
            "sub": ACCOUNT_PK,
            "ses": "a1b2c3d4-session",
            "scope": "READ_WRITE",
            "iat": now,
            "exp": now + int(expires_in),
        }
        key = self._foreign_key if foreign else self._private_key
        return jwt.encode(claims, key, algorithm="RS256")

    def _valid(self, token: str) -> bool:
        try:
            jwt.decode(
                token,
                self._public_key,
                algorithms=["RS256"],
                options={"verify_exp": False, "verify_iat": False, "verify_nbf": False},
            )
            claims = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            return False
        return float(claims.get("exp", 0)) > self.now()

    def _refused_token(self) -> Response:
        return _errors("invalid token signature", 200 if self.expired_as_200 else 401)

    # --- protocol -------------------------------------------------------------------------

    def route(self, request: Request) -> Response:
        if request.method == "POST" and request.path == "/graphql":
            return self._graphql(request)
        if request.method == "POST" and request.path == "/rest/participant/v2/auth/tokens":
            return self._tokens(request)
        return Response(404, b"<html><body>Not Found</body></html>", "text/html")

    def _tokens(self, request: Request) -> Response:
        header = request.headers.get("authorization", "")
        try:
            body = request.json()
            kind, old = body["authType"], body["accessToken"]
        except (ValueError, KeyError, TypeError):
            return answer({"message": "Bad Request"}, 400)
        if kind != "ACCESS_TOKEN" or header != f"Bearer {old}":
            return answer({"message": "Bad Request"}, 400)
        if not self._valid(old):
            return answer({"message": "Unauthorized"}, 401)
        fresh = self.make_jwt()
        with self._state_lock:
            self.issued.append(fresh)
        if self.flat_token_answer:
            return answer({"accessToken": fresh})
        return answer(
            {
                "accessToken": {
                    "accessToken": fresh,
                    "expiresIn": LIFETIME_SECONDS,
                    "tokenType": "Bearer",
                    "scope": "READ_WRITE",
                },
                "accounts": [{"employeeId": int(self.employee_pk), "companyName": "Acme, Inc."}],
            }
        )

    def _graphql(self, request: Request) -> Response:
        if not self._valid(request.headers.get("authorization", "")):
            return self._refused_token()
        employee = request.headers.get("employeeid")
        if not employee:
            return answer({"message": "Bad Request"}, 400)
        if employee != self.employee_pk:
            return answer({"errors": [{"message": "Internal Server Error"}]}, 500)
        try:
            body = request.json()
            query = body["query"]
            if not isinstance(query, str) or "variables" not in body:
                raise TypeError
        except (ValueError, KeyError, TypeError):
            return _errors("Bad Request", 400, "BAD_REQUEST")
        known = PORTFOLIO_FIELDS | MONEY_FIELDS | KEYWORDS
        if self.holdings_supported:
            known |= HOLDING_FIELDS
        for word in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", query):
            if word not in known:
                return _errors(
                    f'Cannot query field "{word}" on type "Query".',
                    400,
                    "GRAPHQL_VALIDATION_FAILED",
                )
        data: dict[str, Any] = {}
        if "portfolio" in query:
            data["portfolio"] = {
                "availableValue": money(AVAILABLE),
                "unavailableValue": money(UNAVAILABLE),
                "totalValue": money(TOTAL),
            }
        if "holdings" in query:
            data["holdings"] = [
                {
                    "symbol": "ACME",
                    "name": "Acme Corp. RSU",
                    "quantity": "1302.5",
                    "currentPrice": money("187.62"),
                    "marketValue": money("244375.05"),
                    "costBasis": None,
                    "grantType": "RSU",
                    "vestingStatus": "VESTED",
                },
                {
                    "symbol": "ACME",
                    "name": "Acme Corp. RSU 2025",
                    "quantity": "1608.875",
                    "currentPrice": money("187.62"),
                    "marketValue": money("301857.1325"),
                    "costBasis": None,
                    "grantType": "RSU",
                    "vestingStatus": "UNVESTED",
                },
            ]
        return answer({"data": data})


def value(text: str) -> Decimal:
    return Decimal(text)
