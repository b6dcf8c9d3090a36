"""A local True Wealth web API (the JSON API behind app.truewealth.ch; unofficial, so the
shapes below are this project's model of it, kept in one place).

Session: a Spring-style double-submit XSRF cookie plus a session cookie.
- `GET  /api/auth/csrf` -> 200 `{}` and `Set-Cookie: XSRF-TOKEN=<token>` (readable by scripts).
- `POST /api/auth/login` `{loginId, password, token}` with header `X-XSRF-TOKEN` equal to the
  cookie; `token` is the current TOTP code (RFC 6238, 30 s, 6 digits; accepted one step either
  side). 200 `{userId, firstName}` and `Set-Cookie: SESSION=<id>; HttpOnly`.
  401 `{"error": "INVALID_CREDENTIALS"}` (unknown login or wrong password),
  401 `{"error": "INVALID_TOTP"}` (wrong or expired code), 423 `{"error": "ACCOUNT_LOCKED"}`,
  403 `{"error": "INVALID_CSRF_TOKEN"}` for any POST without the matching header.
- `POST /api/auth/logout` (XSRF header) -> 204, the session ends.
Reads (session cookie; 401 `{"error": "UNAUTHENTICATED"}` without one):
- `GET /api/portfolios` -> `[{id, name, type: FREE|PILLAR_3A|VESTED_BENEFITS, currency,
  openingDate}]`
- `GET /api/portfolios/{id}/performanceSummary` -> `{portfolioId, valuationDate, currency,
  totalValue, cashValue, netInvested, performance: {twr, mwr}}`
- `GET /api/portfolios/{id}/holdings` -> `{portfolioId, valuationDate, currency, positions:
  [{isin, ticker, name, assetClass: EQUITY|BOND|REAL_ESTATE|GOLD|CASH, quantity, price,
  value}]}` (price and value in the portfolio currency)
- `GET /api/portfolios/{id}/evolution?from=YYYY-MM-DD&to=YYYY-MM-DD` -> `{portfolioId,
  currency, points: [{date, value, netInflow}]}` (business days; the last is today's value)
Unknown portfolio: 404 `{"error": "NOT_FOUND"}`. Numbers are JSON numbers with decimals.
"""

from __future__ import annotations

import secrets
import threading
import time
from datetime import date, timedelta
from decimal import Decimal

import pyotp

from tests.fakes.server import FakeService, Request, Response
from tests.fakes.webjson import answer as _json
from tests.fakes.webjson import cookies

TODAY = date(2024, 6, 14)
HISTORY_START = date(2024, 1, 2)

# (isin, ticker, name, assetClass, quantity, price) per portfolio
HOLDINGS: dict[str, list[tuple[str | None, str | None, str, str, str, str]]] = {
    "TW-100234": [
        ("IE00B3RBWM25", "VWRL", "Vanguard FTSE All-World UCITS ETF", "EQUITY", "210", "118.42"),
        ("CH0237935652", "CHSPI", "iShares Core SPI ETF (CH)", "EQUITY", "85", "152.34"),
        ("CH0016999846", "CSBGC0", "iShares Swiss Domestic Govt Bond 3-7", "BOND", "40", "71.205"),
        ("CH0139101593", "ZGLD", "ZKB Gold ETF AA CHF", "GOLD", "12", "512.80"),
        ("CH0105994401", "SRECHA", "UBS ETF SXI Real Estate Funds", "REAL_ESTATE", "55", "9.876"),
        (None, None, "Cash CHF", "CASH", "512.30", "1"),
    ],
    "TW-300871": [
        ("IE00B3RBWM25", "VWRL", "Vanguard FTSE All-World UCITS ETF", "EQUITY", "61.5", "118.42"),
        ("CH0016999846", "CSBGC0", "iShares Swiss Domestic Govt Bond 3-7", "BOND", "20", "71.205"),
        (None, None, "Cash CHF", "CASH", "88.05", "1"),
    ],
}
PORTFOLIOS = [
    {"id": "TW-100234", "name": "Free portfolio", "type": "FREE", "currency": "CHF"},
    {"id": "TW-300871", "name": "Pillar 3a", "type": "PILLAR_3A", "currency": "CHF"},
]


def position_value(quantity: str, price: str) -> Decimal:
    return (Decimal(quantity) * Decimal(price)).quantize(Decimal("0.01"))


def total_value(portfolio_id: str) -> Decimal:
    return sum((position_value(row[4], row[5]) for row in HOLDINGS[portfolio_id]), Decimal("0.00"))


def evolution_value(portfolio_id: str, day: date) -> Decimal:
    """A deterministic daily value that ends on the portfolio's total today."""
    steps = (TODAY - day).days
    return total_value(portfolio_id) - Decimal(steps) * Decimal("7.25")


def business_days(start: date, end: date) -> list[date]:
    days, day = [], start
    while day <= end:
        if day.weekday() < 5:
            days.append(day)
        day += timedelta(days=1)
    return days


class FakeTrueWealth(FakeService):
    def __init__(self, login_id: str, password: str, totp_secret: str) -> None:
        super().__init__()
        self.login_id = login_id
        self.password = password
        self.totp_secret = totp_secret
        self.clock_offset_seconds = 0.0  # the server's clock minus ours (an expired code)
        self.locked = False
        self.sessions: set[str] = set()
        self.xsrf_tokens: set[str] = set()
        self.logouts = 0
        self._state_lock = threading.Lock()

    def reset(self) -> None:
        super().reset()
        with self._state_lock:
            self.clock_offset_seconds = 0.0
            self.locked = False
            self.logouts = 0

    # --- protocol -------------------------------------------------------------------------

    def route(self, request: Request) -> Response:
        jar = cookies(request)
        if request.method == "POST":
            token = jar.get("XSRF-TOKEN")
            if not token or token not in self.xsrf_tokens:
                return _json({"error": "INVALID_CSRF_TOKEN"}, 403)
            if request.headers.get("x-xsrf-token") != token:
                return _json({"error": "INVALID_CSRF_TOKEN"}, 403)
        if request.method == "GET" and request.path == "/api/auth/csrf":
            token = secrets.token_urlsafe(24)
            with self._state_lock:
                self.xsrf_tokens.add(token)
            return _json({}, headers={"Set-Cookie": f"XSRF-TOKEN={token}; Path=/"})
        if request.method == "POST" and request.path == "/api/auth/login":
            return self._login(request)
        if request.method == "POST" and request.path == "/api/auth/logout":
            with self._state_lock:
                self.sessions.discard(jar.get("SESSION", ""))
                self.logouts += 1
            return Response(204, b"", "application/json")
        if jar.get("SESSION") not in self.sessions:
            return _json(
                {"error": "UNAUTHENTICATED", "message": "Full authentication required"}, 401
            )
        if request.method == "GET":
            return self._read(request)
        return _json({"error": "NOT_FOUND"}, 404)

    def _login(self, request: Request) -> Response:
        try:
            body = request.json()
            login_id, password, token = body["loginId"], body["password"], body["token"]
        except (ValueError, KeyError, TypeError):
            return _json({"error": "BAD_REQUEST"}, 400)
        if self.locked:
            return _json({"error": "ACCOUNT_LOCKED", "message": "Account locked"}, 423)
        if login_id != self.login_id or password != self.password:
            return _json({"error": "INVALID_CREDENTIALS", "message": "Bad credentials"}, 401)
        now = time.time() + self.clock_offset_seconds
        if not pyotp.TOTP(self.totp_secret).verify(str(token), for_time=now, valid_window=1):
            return _json({"error": "INVALID_TOTP", "message": "Invalid 2FA token"}, 401)
        session = secrets.token_urlsafe(32)
        with self._state_lock:
            self.sessions.add(session)
        return _json(
            {"userId": 4711, "firstName": "Anna"},
            headers={"Set-Cookie": f"SESSION={session}; Path=/; HttpOnly; SameSite=Lax"},
        )

    def _read(self, request: Request) -> Response:
        parts = request.path.strip("/").split("/")
        if parts == ["api", "portfolios"]:
            return _json([{**p, "openingDate": "2019-03-01"} for p in PORTFOLIOS])
        if len(parts) != 4 or parts[:2] != ["api", "portfolios"]:
            return _json({"error": "NOT_FOUND"}, 404)
        portfolio_id, what = parts[2], parts[3]
        if portfolio_id not in HOLDINGS:
            return _json({"error": "NOT_FOUND", "message": "Portfolio not found"}, 404)
        if what == "performanceSummary":
            total = total_value(portfolio_id)
            cash = sum(
                (position_value(r[4], r[5]) for r in HOLDINGS[portfolio_id] if r[3] == "CASH"),
                Decimal("0.00"),
            )
            return _json(
                {
                    "portfolioId": portfolio_id,
                    "valuationDate": TODAY.isoformat(),
                    "currency": "CHF",
                    "totalValue": total,
                    "cashValue": cash,
                    "netInvested": total - Decimal("4210.55"),
                    "performance": {"twr": Decimal("0.0712"), "mwr": Decimal("0.0688")},
                }
            )
        if what == "holdings":
            return _json(
                {
                    "portfolioId": portfolio_id,
                    "valuationDate": TODAY.isoformat(),
                    "currency": "CHF",
                    "positions": [
                        {
                            "isin": isin,
                            "ticker": ticker,
                            "name": name,
                            "assetClass": asset_class,
                            "quantity": Decimal(quantity),
                            "price": Decimal(price),
                            "value": position_value(quantity, price),
                        }
                        for isin, ticker, name, asset_class, quantity, price in HOLDINGS[
                            portfolio_id
                        ]
                    ],
                }
            )
        if what == "evolution":
            start = date.fromisoformat(request.arg("from") or HISTORY_START.isoformat())
            end = date.fromisoformat(request.arg("to") or TODAY.isoformat())
            days = business_days(max(start, HISTORY_START), min(end, TODAY))
            return _json(
                {
                    "portfolioId": portfolio_id,
                    "currency": "CHF",
                    "points": [
                        {
                            "date": day.isoformat(),
                            "value": evolution_value(portfolio_id, day),
                            "netInflow": Decimal("0.00"),
                        }
                        for day in days
                    ],
                }
            )
        return _json({"error": "NOT_FOUND"}, 404)
