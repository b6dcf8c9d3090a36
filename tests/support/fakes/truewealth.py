"""A local True Wealth web API (the JSON API behind app.truewealth.ch; unofficial).

Each behaviour and its source (`/work/shared/reference/brokers.md`, "True Wealth"):
- Header set (lsgd/WealthTracker `backend/brokers/integrations/truewealth.py`, whose author
  found the service answers 400 with an empty body without it): every `/api/` call must carry
  `X-Client-Version`, `X-Requested-With: XMLHttpRequest` and a browser User-Agent
  (`Mozilla/...`); a POST must also carry `Origin`. Missing any: 400, empty body.
- Double-submit XSRF (same source: cookie `__Host-XSRF-Token` and header `X-XSRF-Token`, any
  token the client chose): every `/api/` call must carry both, equal. GUESS: what the
  service answers to a mismatch is not shown; Spring's default, 403 with an empty body.
- Warm-up `GET /app/login?lang=en` (HTML) and `GET /api/public/authCheck` (same source).
  GUESS: authCheck's body (`{"authenticated": false}` here; the client ignores it).
- `POST /api/auth/login {loginId, password, token}` (same source): `token` is the TOTP code
  (RFC 6238, 30 s, 6 digits; one step either side accepted: GUESS, usual tolerance).
  Success: 200 with an empty body, or 204 when `login_status = 204` (the source accepts
  both). 401 `{"message": ...}` wrong credentials; 403 TOTP invalid or expired; 400 with an
  empty body when `blocked` (refused client); 429 when `rate_limited`.
  GUESS: the session cookie's name (`SESSION` here) and that a read without it answers 401.
- `POST /api/auth/logout` (the source's close()): GUESS 204.
- `GET /api/user/fees/customer-fee-schedules` -> `[{portfolioId, ...}]`, one entry per fee
  schedule, so a portfolio can appear twice (source: "ids only, no name or currency";
  the other fields here are a GUESS).
- `GET /api/portfolios/{id}/performanceSummary` -> `{portfolioItem: {netValue, currency},
  date}` (source: the original reads `portfolioItem.netValue` and `date`; other fields GUESS).
- `GET /api/portfolios/{id}/evolution` (no parameters, the whole history) -> `{currency,
  t0, t1, performance: [{date, vStart, vEnd, inflows, fees, netReturn}]}` (sboehler/fin
  `src/importer/truewealth.rs`); JSON numbers with up to 8 decimals; zeros before the first
  contribution (same source).
- `GET /api/portfolios/{id}/holdings`: GUESS throughout (the original accepts a list or
  `{holdings: [...]}`); this fake answers `{holdings: [...]}`, or a list when
  `holdings_as_list`, or 500 when `holdings_broken`.
Unknown portfolio: GUESS 404 with an empty body.
"""

from __future__ import annotations

import secrets
import threading
import time
from datetime import date, timedelta
from decimal import Decimal

import pyotp

from tests.support.fakes.server import FakeService, Request, Response
from tests.support.fakes.webjson import answer as _json
from tests.support.fakes.webjson import cookies

TODAY = date(2024, 6, 14)
HISTORY_START = date(2024, 1, 2)
PORTFOLIOS = ("677155", "677201")
# The days' values: many decimals, as the service sends them.
NET_VALUE = {"677155": Decimal("48211.53870214"), "677201": Decimal("7306.10000001")}
DAILY_STEP = Decimal("7.25312577")
FEE_DAY = date(2024, 3, 28)  # the quarter's fee
DEPOSIT_DAY = date(2024, 3, 4)  # a deposit into 677155
WITHDRAWAL_DAY = date(2024, 5, 13)  # a withdrawal from 677155
HOLDINGS = {
    "677155": [
        ("IE00B3RBWM25", "VWRL", "Vanguard FTSE All-World", "EQUITY", "210.5", "118.42"),
        ("CH0016999846", "CSBGC0", "iShares Swiss Govt Bond 3-7", "BOND", "40", "71.205"),
        ("CH0139101593", "ZGLD", "ZKB Gold ETF AA CHF", "GOLD", "12", "512.80"),
    ],
    "677201": [],
}


def evolution_value(portfolio_id: str, day: date) -> Decimal:
    """vEnd of `day`: ends on today's net value."""
    return NET_VALUE[portfolio_id] - Decimal((TODAY - day).days) * DAILY_STEP


def inflows(portfolio_id: str, day: date) -> Decimal:
    if portfolio_id == "677155" and day == DEPOSIT_DAY:
        return Decimal("5000.00000000")
    if portfolio_id == "677155" and day == WITHDRAWAL_DAY:
        return Decimal("-1250.5")
    return Decimal("0")


def fees(portfolio_id: str, day: date) -> Decimal:
    return Decimal("-31.41592653") if day == FEE_DAY else Decimal("0")


def business_days(start: date, end: date) -> list[date]:
    days, day = [], start
    while day <= end:
        if day.weekday() < 5:
            days.append(day)
        day += timedelta(days=1)
    return days


def empty(status: int) -> Response:
    return Response(status, b"", "application/json")


class FakeTrueWealth(FakeService):
    def __init__(self, login_id: str, password: str, totp_secret: str) -> None:
        super().__init__()
        self.login_id = login_id
        self.password = password
        self.totp_secret = totp_secret
        self.sessions: set[str] = set()
        self._state_lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        super().reset()
        with self._state_lock:
            self.clock_offset_seconds = 0.0  # the server's clock minus ours (an expired code)
            self.login_status = 200
            self.blocked = False
            self.rate_limited = False
            self.holdings_as_list = False
            self.holdings_broken = False
            self.logouts = 0

    # --- protocol -------------------------------------------------------------------------

    def route(self, request: Request) -> Response:
        if request.path == "/app/login":
            return Response(200, b"<html><body>True Wealth</body></html>", "text/html")
        if not request.path.startswith("/api/"):
            return empty(404)
        headers = request.headers
        if (
            not headers.get("x-client-version")
            or headers.get("x-requested-with") != "XMLHttpRequest"
            or not headers.get("user-agent", "").startswith("Mozilla/")
            or (request.method == "POST" and not headers.get("origin"))
        ):
            return empty(400)
        jar = cookies(request)
        token = jar.get("__Host-XSRF-Token")
        if not token or headers.get("x-xsrf-token") != token:
            return empty(403)
        if request.path == "/api/public/authCheck":
            return _json({"authenticated": jar.get("SESSION") in self.sessions})
        if request.method == "POST" and request.path == "/api/auth/login":
            return self._login(request)
        if request.method == "POST" and request.path == "/api/auth/logout":
            with self._state_lock:
                self.sessions.discard(jar.get("SESSION", ""))
                self.logouts += 1
            return empty(204)
        if jar.get("SESSION") not in self.sessions:
            return _json({"message": "Full authentication is required"}, 401)
        if request.method == "GET":
            return self._read(request)
        return empty(404)

    def _login(self, request: Request) -> Response:
        if self.blocked:
            return empty(400)
        if self.rate_limited:
            return _json({"message": "Too many requests"}, 429)
        try:
            body = request.json()
            login_id, password, token = body["loginId"], body["password"], body["token"]
        except (ValueError, KeyError, TypeError):
            return empty(400)
        if login_id != self.login_id or password != self.password:
            return _json({"message": "Bad credentials"}, 401)
        now = time.time() + self.clock_offset_seconds
        if not pyotp.TOTP(self.totp_secret).verify(str(token), for_time=now, valid_window=1):
            return empty(403)
        session = secrets.token_urlsafe(32)
        with self._state_lock:
            self.sessions.add(session)
        cookie = {"Set-Cookie": f"SESSION={session}; Path=/; HttpOnly; SameSite=Lax"}
        return Response(self.login_status, b"", "application/json", cookie)

    def _read(self, request: Request) -> Response:
        if request.path == "/api/user/fees/customer-fee-schedules":
            return _json(
                [
                    {"portfolioId": 677155, "feeScheduleId": 1, "validFrom": "2019-03-01"},
                    {"portfolioId": 677155, "feeScheduleId": 2, "validFrom": "2023-01-01"},
                    {"portfolioId": 677201, "feeScheduleId": 3, "validFrom": "2021-06-01"},
                ]
            )
        parts = request.path.strip("/").split("/")
        if len(parts) != 4 or parts[:2] != ["api", "portfolios"] or parts[2] not in NET_VALUE:
            return empty(404)
        portfolio_id, what = parts[2], parts[3]
        if what == "performanceSummary":
            return _json(
                {
                    "date": TODAY.isoformat(),
                    "portfolioItem": {
                        "netValue": NET_VALUE[portfolio_id],
                        "currency": "CHF",
                        "grossValue": NET_VALUE[portfolio_id] + Decimal("12.5"),
                    },
                }
            )
        if what == "evolution":
            days = business_days(HISTORY_START, TODAY)
            zeros = [  # before the first contribution the series reports zeros (sboehler/fin)
                {"date": day.isoformat(), "vStart": 0, "vEnd": 0, "inflows": 0, "fees": 0}
                for day in business_days(HISTORY_START - timedelta(days=7), HISTORY_START)[:-1]
            ]
            return _json(
                {
                    "currency": "CHF",
                    "t0": HISTORY_START.isoformat(),
                    "t1": TODAY.isoformat(),
                    "performance": zeros
                    + [
                        {
                            "date": day.isoformat(),
                            "vStart": evolution_value(portfolio_id, day) - DAILY_STEP,
                            "vEnd": evolution_value(portfolio_id, day),
                            "inflows": inflows(portfolio_id, day),
                            "fees": fees(portfolio_id, day),
                            "netReturn": Decimal("0.00012345"),
                        }
                        for day in days
                    ],
                }
            )
        if what == "holdings":
            if self.holdings_broken:
                return _json({"message": "Internal Server Error"}, 500)
            rows = [
                {
                    "isin": isin,
                    "symbol": symbol,
                    "name": name,
                    "assetClass": kind,
                    "quantity": Decimal(units),
                    "price": Decimal(price),
                    "marketValue": (Decimal(units) * Decimal(price)).quantize(Decimal("0.01")),
                    "currency": "CHF",
                }
                for isin, symbol, name, kind, units, price in HOLDINGS[portfolio_id]
            ]
            return _json(rows if self.holdings_as_list else {"holdings": rows})
        return empty(404)
