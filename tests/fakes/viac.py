"""A local VIAC web API (the JSON API behind app.viac.ch; unofficial, so the shapes below are
this project's model of it, kept in one place).

Session: a Django-style CSRF cookie echoed in a custom header, and a session cookie.
- `GET  /external-login/public/authentication/csrf/` -> 200 `{}` and
  `Set-Cookie: csrftoken=<token>`.
- `POST /external-login/public/authentication/password/check/` `{username, password}` with
  header `x-csrftoken` equal to the cookie. Answers 200 and `Set-Cookie: sessionid=<id>`:
  `{"status": "AUTHENTICATED"}`, or, when the user turned on two-factor authentication,
  `{"status": "TWO_FACTOR_REQUIRED", "twoFactorType": "SMS", "maskedPhoneNumber": "..."}`
  (the session waits for the code sent by SMS, for `code_lifetime_seconds`).
  401 `{"error": "INVALID_CREDENTIALS"}`, 423 `{"error": "ACCOUNT_LOCKED"}`.
- `POST /external-login/public/authentication/two-factor/verify/` `{code}` (same cookies and
  header) -> 200 `{"status": "AUTHENTICATED"}`; 401 `{"error": "INVALID_CODE",
  "attemptsLeft": n}`; 401 `{"error": "NO_PENDING_LOGIN"}` when the waiting session expired.
- `POST /external-login/public/authentication/logout/` -> 204.
- Any POST without the matching header: 403 `{"detail": "CSRF Failed: CSRF token missing or
  incorrect."}`.
Reads (authenticated session; 401 `{"detail": "Authentication credentials were not
provided."}` otherwise):
- `GET /rest/web/wealth/summary` -> `{date, currency, totalValue, totalInvested, portfolios:
  [{id, name, type: PILLAR_3A|VESTED_BENEFITS, value}], dailyWealth: [{date, value,
  byPortfolio: {id: value}}]}` (every calendar day from HISTORY_START to today)
- `GET /rest/web/portfolio/{id}/positions` -> `{portfolioId, date, currency, positions: [{isin,
  name, assetClass: EQUITY|BONDS|REAL_ESTATE|COMMODITIES|CASH, quantity, price, value}]}`;
  404 `{"detail": "Not found."}` for another user's or an unknown portfolio.
"""

from __future__ import annotations

import secrets
import threading
import time
from datetime import date, timedelta
from decimal import Decimal

from tests.fakes.server import FakeService, Request, Response
from tests.fakes.webjson import answer, cookies

TODAY = date(2024, 6, 14)
HISTORY_START = date(2024, 5, 1)
AUTH = "/external-login/public/authentication"

# (isin, name, assetClass, quantity, price) per portfolio
POSITIONS: dict[str, list[tuple[str | None, str, str, str, str]]] = {
    "3a-58213": [
        ("CH0033782431", "CSIF (CH) Equity Switzerland Large Cap", "EQUITY", "9.514", "1943.22"),
        ("IE00B52VJ196", "iShares MSCI Europe SRI ETF", "EQUITY", "80.2201", "61.84"),
        ("CH0116015352", "CSIF (CH) Bond Switzerland AAA-BBB", "BONDS", "3.3102", "988.10"),
        ("CH0419041725", "UBS (CH) Real Estate Fund Swiss", "REAL_ESTATE", "12.5", "118.40"),
        ("CH0104136236", "UBS ETF Gold hedged CHF", "COMMODITIES", "7.741", "146.55"),
        (None, "Cash", "CASH", "247.35", "1"),
    ],
    "3a-77120": [
        ("CH0033782431", "CSIF (CH) Equity Switzerland Large Cap", "EQUITY", "2.001", "1943.22"),
        (None, "Cash", "CASH", "12.05", "1"),
    ],
}
NAMES = {"3a-58213": "Portfolio 1 (Global 100)", "3a-77120": "Portfolio 2 (Swiss 60)"}


def position_value(quantity: str, price: str) -> Decimal:
    return (Decimal(quantity) * Decimal(price)).quantize(Decimal("0.01"))


def portfolio_value(portfolio_id: str) -> Decimal:
    return sum((position_value(r[3], r[4]) for r in POSITIONS[portfolio_id]), Decimal("0.00"))


def daily_value(portfolio_id: str, day: date) -> Decimal:
    """A deterministic daily value that ends on today's value."""
    return portfolio_value(portfolio_id) - Decimal((TODAY - day).days) * Decimal("3.10")


class FakeViac(FakeService):
    def __init__(self, username: str, password: str) -> None:
        super().__init__()
        self.username = username
        self.password = password
        self.two_factor = False  # the user turned on SMS codes
        self.locked = False
        self.code_lifetime_seconds = 300.0
        self.sms_codes: list[str] = []  # what was "sent by SMS", newest last
        self.csrf_tokens: set[str] = set()
        self.pending: dict[str, tuple[str, float, int]] = {}  # session -> (code, until, tries)
        self.sessions: set[str] = set()  # authenticated
        self.logouts = 0
        self._state_lock = threading.Lock()

    def reset(self) -> None:
        super().reset()
        with self._state_lock:
            self.two_factor = False
            self.locked = False
            self.code_lifetime_seconds = 300.0
            self.sms_codes.clear()
            self.logouts = 0

    def route(self, request: Request) -> Response:
        jar = cookies(request)
        session = jar.get("sessionid", "")
        if request.method == "POST":
            token = jar.get("csrftoken")
            if token not in self.csrf_tokens or request.headers.get("x-csrftoken") != token:
                return answer({"detail": "CSRF Failed: CSRF token missing or incorrect."}, 403)
        if request.method == "GET" and request.path == f"{AUTH}/csrf/":
            token = secrets.token_hex(32)
            with self._state_lock:
                self.csrf_tokens.add(token)
            return answer({}, headers={"Set-Cookie": f"csrftoken={token}; Path=/; SameSite=Lax"})
        if request.method == "POST" and request.path == f"{AUTH}/password/check/":
            return self._password_check(request)
        if request.method == "POST" and request.path == f"{AUTH}/two-factor/verify/":
            return self._verify(request, session)
        if request.method == "POST" and request.path == f"{AUTH}/logout/":
            with self._state_lock:
                self.sessions.discard(session)
                self.logouts += 1
            return Response(204, b"")
        if session not in self.sessions:
            return answer({"detail": "Authentication credentials were not provided."}, 401)
        if request.method == "GET" and request.path == "/rest/web/wealth/summary":
            return answer(self.summary())
        parts = request.path.strip("/").split("/")
        if (
            request.method == "GET"
            and len(parts) == 5
            and parts[:3] == ["rest", "web", "portfolio"]
            and parts[4] == "positions"
            and parts[3] in POSITIONS
        ):
            return answer(self.positions(parts[3]))
        return answer({"detail": "Not found."}, 404)

    def _password_check(self, request: Request) -> Response:
        try:
            body = request.json()
            username, password = body["username"], body["password"]
        except (ValueError, KeyError, TypeError):
            return answer({"error": "BAD_REQUEST"}, 400)
        if self.locked:
            return answer({"error": "ACCOUNT_LOCKED"}, 423)
        if username != self.username or password != self.password:
            return answer({"error": "INVALID_CREDENTIALS", "message": "Login failed"}, 401)
        session = secrets.token_hex(16)
        cookie = {"Set-Cookie": f"sessionid={session}; Path=/; HttpOnly; SameSite=Lax"}
        with self._state_lock:
            if not self.two_factor:
                self.sessions.add(session)
                return answer({"status": "AUTHENTICATED"}, headers=cookie)
            code = f"{secrets.randbelow(1_000_000):06d}"
            self.sms_codes.append(code)
            self.pending[session] = (code, time.monotonic() + self.code_lifetime_seconds, 3)
        return answer(
            {
                "status": "TWO_FACTOR_REQUIRED",
                "twoFactorType": "SMS",
                "maskedPhoneNumber": "+41 79 *** ** 67",
            },
            headers=cookie,
        )

    def _verify(self, request: Request, session: str) -> Response:
        try:
            code = str(request.json()["code"])
        except (ValueError, KeyError, TypeError):
            return answer({"error": "BAD_REQUEST"}, 400)
        with self._state_lock:
            expected, until, tries = self.pending.get(session, ("", 0.0, 0))
            if not expected or time.monotonic() > until or tries <= 0:
                self.pending.pop(session, None)
                return answer({"error": "NO_PENDING_LOGIN"}, 401)
            if code != expected:
                self.pending[session] = (expected, until, tries - 1)
                return answer({"error": "INVALID_CODE", "attemptsLeft": tries - 1}, 401)
            del self.pending[session]
            self.sessions.add(session)
        return answer({"status": "AUTHENTICATED"})

    def summary(self) -> dict:
        days = [HISTORY_START + timedelta(n) for n in range((TODAY - HISTORY_START).days + 1)]
        return {
            "date": TODAY.isoformat(),
            "currency": "CHF",
            "totalValue": sum(map(portfolio_value, POSITIONS), Decimal("0.00")),
            "totalInvested": Decimal("52000.00"),
            "portfolios": [
                {"id": pid, "name": NAMES[pid], "type": "PILLAR_3A", "value": portfolio_value(pid)}
                for pid in POSITIONS
            ],
            "dailyWealth": [
                {
                    "date": day.isoformat(),
                    "value": sum((daily_value(pid, day) for pid in POSITIONS), Decimal("0.00")),
                    "byPortfolio": {pid: daily_value(pid, day) for pid in POSITIONS},
                }
                for day in days
            ],
        }

    def positions(self, portfolio_id: str) -> dict:
        return {
            "portfolioId": portfolio_id,
            "date": TODAY.isoformat(),
            "currency": "CHF",
            "positions": [
                {
                    "isin": isin,
                    "name": name,
                    "assetClass": asset_class,
                    "quantity": Decimal(quantity),
                    "price": Decimal(price),
                    "value": position_value(quantity, price),
                }
                for isin, name, asset_class, quantity, price in POSITIONS[portfolio_id]
            ],
        }
