"""A local VIAC web API (the JSON API behind app.viac.ch; unofficial).

Each behaviour and its source (`/work/shared/reference/brokers.md`, "VIAC"; the main source
is smartpointer-com/wealthdb `collectors/viac/{DESIGN.md,login.py,viac_client.py,
download.py,load.py}`, a working httpx client of 2026, confirmed by dafuqwhocares/
viac-moneymoney `VIAC.lua` and faragos/viac-portfolio-performance-api):
- Session in cookie `AL_SESS-S` (Airlock), CSRF double-submit cookie `CSRFT<N>-S` (N: a build
  number, `csrf_build` here, so a client must discover it) echoed as header `x-csrft<N>` on
  POST/PUT/PATCH/DELETE. `GET /` sets both cookies. Every request carries `X-Same-Domain: 1`
  and a browser User-Agent. GUESS: what the service answers when one is missing or wrong
  (403 with an empty body here).
- Login flow: `DELETE /external-login/public/authentication/flow/` -> 204;
  `POST .../password/check/ {username, password}` (username: the phone number in E.164) ->
  200 JSON:API `{data: {attributes: {phoneNumber (masked), nextAuthStep:
  "MTAN_OTP_REQUIRED"}}}` and an SMS (`sms_codes`); `POST .../mtan/otp/check/ {otp}` -> 200;
  `GET /external-login/public/authentication/` -> 200 `{data: {attributes: {userId}}}`;
  `POST /rest/web/customer/loginHook` -> 204.
- Errors are JSON:API `{errors: [{code}]}`: USERNAME_PASSWORD_WRONG, RATE_LIMITED, OTP_WRONG,
  OTP_EXPIRED. GUESS: their HTTP statuses (401, 429, 400, 400 here) and the body of the OTP
  check's 200 (the source ignores it).
- `GET /rest/web/heartbeat` -> 204 while the session lives, 401 or a redirect when dead
  (the source names both: `dead_redirect` switches this fake to a 302). Reads of a dead
  session answer the same.
- `GET /rest/web/wealth/portfolio-inventory` -> `{p3a: [...], pvb: [...], inv: [...]}`, each
  `{number, name, state}` with dotted numbers (3: pillar 3a, 2: vested benefits).
- `GET /rest/web/wealth/summary` -> `{totalValue, dailyWealth: [{date, value}], p3aSummary:
  {portfolioWealthSummaries: {"<number>": {portfolioNumber, dailyWealth: [{date, value}]}}}}`,
  CHF, numbers with twenty-odd decimals, not sorted, zeros before the first contribution
  (sboehler/fin `src/importer/viac.rs`). GUESS: `pvbSummary` with the same shape for the
  vested-benefits portfolio, and `dailyInvestedAmounts` beside a portfolio's `dailyWealth`
  (wealthdb reads it "there", the exact place is not shown).
- `GET /rest/web/p3a/portfolio/{number}/assetsOverview` -> `{cashAmount, assetsByClasses:
  {EQUITIES|BONDS|REAL_ESTATE|COMMODITIES|LIQUIDITY|ALTERNATIVES: [{name, isin, amount,
  assetPrice, currencyCode, acquisitionPrice, ratioInChf}]}}` (class names: wealthdb
  `load.py`; `ratioInChf` is the value in CHF: VIAC.lua).
"""

from __future__ import annotations

import secrets
import threading
import time
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from tests.support.fakes.server import FakeService, Request, Response
from tests.support.fakes.webjson import answer as _json
from tests.support.fakes.webjson import cookies

AUTH = "/external-login/public/authentication"
TODAY = date(2024, 6, 14)
HISTORY_START = date(2024, 5, 1)
BIG, SMALL, VESTED = "3.123.456.789.01", "3.123.456.789.02", "2.987.654.321.01"
NAMES = {BIG: "Portfolio 1", SMALL: "Portfolio 2", VESTED: "Freizügigkeit"}
# Last day's values, as VIAC sends them: twenty-odd decimals.
LAST_VALUE = {
    BIG: Decimal("29581.2083412398712345678901"),
    SMALL: Decimal("4212.5500000000000000000001"),
    VESTED: Decimal("15873.0012345678901234567"),
}
STEP = Decimal("3.1415926535897932384626")
MASKED_PHONE = "+41 79 *** ** 67"
ASSETS = {
    BIG: {
        "cashAmount": Decimal("312.45000000000000000001"),
        "assetsByClasses": {
            "EQUITIES": [
                {
                    "name": "CSIF (CH) Equity Switzerland Large Cap",
                    "isin": "CH0033782431",
                    "amount": Decimal("9.51412"),
                    "assetPrice": Decimal("1943.22"),
                    "currencyCode": "CHF",
                    "acquisitionPrice": Decimal("1700.10"),
                    "ratioInChf": Decimal("18487.8052986400000000001"),
                },
                {
                    "name": "UBS ETF MSCI USA",
                    "isin": "IE00BD4TXS21",
                    "amount": Decimal("25.25"),
                    "assetPrice": Decimal("141.86"),
                    "currencyCode": "USD",
                    "acquisitionPrice": Decimal("120"),
                    "ratioInChf": Decimal("3181.1232123"),
                },
            ],
            "BONDS": [
                {
                    "name": "CSIF (CH) Bond Switzerland AAA-AA",
                    "isin": "CH0016999846",
                    "amount": Decimal("3.7"),
                    "assetPrice": Decimal("1012.5"),
                    "currencyCode": "CHF",
                    "acquisitionPrice": Decimal("1030"),
                    "ratioInChf": Decimal("3746.25"),
                }
            ],
            "REAL_ESTATE": [
                {
                    "name": "UBS ETF SXI Real Estate",
                    "isin": "CH0105994401",
                    "amount": Decimal("100"),
                    "assetPrice": Decimal("9.876"),
                    "currencyCode": "CHF",
                    "acquisitionPrice": Decimal("9"),
                    "ratioInChf": Decimal("987.6"),
                }
            ],
            "COMMODITIES": [
                {
                    "name": "ZKB Gold ETF",
                    "isin": "CH0139101593",
                    "amount": Decimal("4"),
                    "assetPrice": Decimal("512.80"),
                    "currencyCode": "CHF",
                    "acquisitionPrice": Decimal("450"),
                    "ratioInChf": Decimal("2051.2"),
                }
            ],
            "ALTERNATIVES": [],
        },
    },
    SMALL: {"cashAmount": Decimal("4212.55"), "assetsByClasses": {}},
}


def daily_value(number: str, day: date) -> Decimal:
    """A portfolio's value on `day` (ends on LAST_VALUE today)."""
    return LAST_VALUE[number] - Decimal((TODAY - day).days) * STEP


def days() -> list[date]:
    return [HISTORY_START + timedelta(n) for n in range((TODAY - HISTORY_START).days + 1)]


def empty(status: int, headers: dict[str, str | list[str]] | None = None) -> Response:
    return Response(status, b"", "application/json", headers or {})


def errors(code: str, status: int) -> Response:
    return _json({"errors": [{"status": str(status), "code": code}]}, status)


class FakeViac(FakeService):
    def __init__(self, phone: str, password: str) -> None:
        super().__init__()
        self.phone = phone
        self.password = password
        self.csrf_build = 759
        # AL_SESS-S value -> {"csrf": str, "flow": None|"otp"|"otp_ok", "code": str,
        # "sent": float, "authenticated": bool}
        self.sessions: dict[str, dict[str, Any]] = {}
        self._state_lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        super().reset()
        with self._state_lock:
            self.sessions.clear()
            self.sms_codes: list[str] = []
            self.code_lifetime_seconds = 300.0
            self.rate_limited = False
            self.dead_redirect = False
            self.csrf_cookie = True  # False: a login page that sets no CSRF cookie
            self.logins_confirmed = 0

    def expire_sessions(self) -> None:
        with self._state_lock:
            for session in self.sessions.values():
                session["authenticated"] = False

    # --- protocol -------------------------------------------------------------------------

    def route(self, request: Request) -> Response:
        headers = request.headers
        if headers.get("x-same-domain") != "1" or not headers.get("user-agent", "").startswith(
            "Mozilla/"
        ):
            return empty(403)
        jar = cookies(request)
        cookie_name = f"CSRFT{self.csrf_build}-S"
        session = self.sessions.get(jar.get("AL_SESS-S", ""))
        if request.method == "GET" and request.path == "/":
            return self._bootstrap(session)
        if session is None:
            return self._dead()
        if request.method in ("POST", "PUT", "PATCH", "DELETE") and (
            jar.get(cookie_name) != session["csrf"]
            or headers.get(f"x-csrft{self.csrf_build}") != session["csrf"]
        ):
            return empty(403)
        if request.path.startswith(AUTH):
            return self._auth(request, session)
        if not session["authenticated"]:
            return self._dead()
        if request.method == "POST" and request.path == "/rest/web/customer/loginHook":
            return empty(204)
        if request.method == "GET" and request.path == "/rest/web/heartbeat":
            return empty(204)
        if request.method == "GET":
            return self._read(request.path)
        return empty(404)

    def _bootstrap(self, session: dict[str, Any] | None) -> Response:
        if session is not None:
            return Response(200, b"<html>VIAC</html>", "text/html")
        sid, csrf = secrets.token_urlsafe(24), secrets.token_urlsafe(16)
        with self._state_lock:
            self.sessions[sid] = {"csrf": csrf, "flow": None, "authenticated": False}
        set_cookies = [f"AL_SESS-S={sid}; Path=/; HttpOnly"]
        if self.csrf_cookie:
            set_cookies.append(f"CSRFT{self.csrf_build}-S={csrf}; Path=/")
        return Response(200, b"<html>VIAC</html>", "text/html", {"Set-Cookie": set_cookies})

    def _dead(self) -> Response:
        if self.dead_redirect:
            return empty(302, {"Location": "/login"})
        return empty(401)

    def _auth(self, request: Request, session: dict[str, Any]) -> Response:
        path = request.path[len(AUTH) :]
        if request.method == "DELETE" and path == "/flow/":
            session["flow"] = None
            return empty(204)
        if request.method == "POST" and path == "/password/check/":
            if self.rate_limited:
                return errors("RATE_LIMITED", 429)
            body = request.json() or {}
            if body.get("username") != self.phone or body.get("password") != self.password:
                return errors("USERNAME_PASSWORD_WRONG", 401)
            code = f"{secrets.randbelow(1_000_000):06d}"
            with self._state_lock:
                session.update(flow="otp", code=code, sent=time.monotonic())
                self.sms_codes.append(code)
            return _json(
                {
                    "data": {
                        "type": "authentication",
                        "attributes": {
                            "phoneNumber": MASKED_PHONE,
                            "nextAuthStep": "MTAN_OTP_REQUIRED",
                        },
                    }
                }
            )
        if request.method == "POST" and path == "/mtan/otp/check/":
            if session["flow"] != "otp":
                return errors("OTP_EXPIRED", 400)
            if time.monotonic() - session["sent"] > self.code_lifetime_seconds:
                return errors("OTP_EXPIRED", 400)
            if (request.json() or {}).get("otp") != session["code"]:
                return errors("OTP_WRONG", 400)
            session["flow"] = "otp_ok"
            return _json({"data": {"type": "authentication", "attributes": {}}})
        if request.method == "GET" and path == "/":
            if session["flow"] != "otp_ok":
                return empty(401)
            with self._state_lock:
                session["authenticated"] = True
                self.logins_confirmed += 1
            return _json({"data": {"type": "authentication", "attributes": {"userId": 4711}}})
        return empty(404)

    def _read(self, path: str) -> Response:
        if path == "/rest/web/wealth/portfolio-inventory":
            return _json(
                {
                    "p3a": [
                        {"number": n, "name": NAMES[n], "state": "ACTIVE"} for n in (BIG, SMALL)
                    ],
                    "pvb": [{"number": VESTED, "name": NAMES[VESTED], "state": "ACTIVE"}],
                    "inv": [],
                }
            )
        if path == "/rest/web/wealth/summary":
            return _json(self._summary())
        prefix, suffix = "/rest/web/p3a/portfolio/", "/assetsOverview"
        if path.startswith(prefix) and path.endswith(suffix):
            number = path[len(prefix) : -len(suffix)]
            if number in ASSETS:
                return _json(ASSETS[number])
        return empty(404)

    def _summary(self) -> dict[str, Any]:
        def series(number: str) -> list[dict[str, Any]]:
            # newest first, and zeros before the first contribution (sboehler/fin viac.rs)
            before = [HISTORY_START - timedelta(n) for n in (1, 2)]
            values = [{"date": d.isoformat(), "value": daily_value(number, d)} for d in days()]
            return values[::-1] + [{"date": d.isoformat(), "value": 0} for d in before]

        def summary(number: str) -> dict[str, Any]:
            return {
                "portfolioNumber": number,
                "dailyWealth": series(number),
                "dailyInvestedAmounts": [
                    {"date": d.isoformat(), "value": Decimal("20000.5") + d.day} for d in days()
                ],
            }

        return {
            "totalValue": sum(LAST_VALUE.values(), Decimal(0)),
            "dailyWealth": [
                {
                    "date": d.isoformat(),
                    "value": sum((daily_value(n, d) for n in LAST_VALUE), Decimal(0)),
                }
                for d in days()
            ],
            "p3aSummary": {"portfolioWealthSummaries": {n: summary(n) for n in (BIG, SMALL)}},
            "pvbSummary": {"portfolioWealthSummaries": {VESTED: summary(VESTED)}},
        }
