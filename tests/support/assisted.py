"""A test double of an assisted broker, for the machinery around assisted sync.

NOT a fake of a real service: it stands in for VIAC's shape (an SMS code at every fresh
login, a session kept alive for a while and checked with a heartbeat that answers 204 while
it lives, a whole daily history in one answer) so the daily run, `wealth accounts auth` and
the notices can be tested before and besides the VIAC integration. The protocol below is our
own (a guess by construction); the real VIAC protocol lives in `tests/support/fakes/viac.py`.

`AssistedService` is a real HTTP server (a CLI in another process reaches it too):
- `POST /login {username, password}` -> 200 `{next: "SMS"}` and a code "sent"; 401 wrong.
- `POST /otp {otp}` -> 200 with a session cookie `sid`; 400 `{error: "OTP_WRONG"}`.
- `GET /heartbeat` (cookie) -> 204 while the session lives, 401 after `expire()`.
- `GET /wealth` (cookie) -> `{value, history: [{date, value}]}` (strings, exact).
`AssistedBroker` (code `fake_assisted`) talks to it through `api_base_url`.
"""

from __future__ import annotations

import json
import secrets
import threading
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import httpx
from sqlalchemy import Engine, insert, select

from tests.support.fakes.server import FakeService, Request, Response
from wealth_pipeline.brokers.base import (
    AccountInfo,
    AuthenticationFailed,
    AuthResult,
    BalanceInfo,
    BrokerIntegrationBase,
    MalformedAnswer,
)
from wealth_pipeline.brokers.registry import register
from wealth_pipeline.warehouse.schema import brokers

CODE = "fake_assisted"
PHONE = "+41791234567"
PASSWORD = "assisted-Secret-99"
SMS_CODE = "482913"
NOTE = "the service sends an SMS code at every fresh login"
SCHEMA = {
    "type": "object",
    "required": ["username", "password"],
    "properties": {
        "username": {"type": "string", "minLength": 1, "title": "Phone"},
        "password": {"type": "string", "minLength": 1, "format": "password", "title": "Pass"},
    },
    "additionalProperties": False,
}


class AssistedService(FakeService):
    """See the module docstring; `today` is the service's clock, `days` its history."""

    def __init__(self, today: date, days: int = 60) -> None:
        super().__init__()
        self.today = today
        self.days = days
        self.sessions: set[str] = set()
        self.pending_sms = False
        self.logins = 0  # password checks (each sends an SMS)
        self.heartbeats = 0
        self._state = threading.Lock()

    def expire(self) -> None:
        with self._state:
            self.sessions.clear()

    def value(self, day: date) -> Decimal:
        return Decimal("10000.12345678") + Decimal(day.toordinal() % 97)

    def route(self, request: Request) -> Response:
        with self._state:
            return self._route(request)

    def _route(self, request: Request) -> Response:
        session = _cookie(request.headers.get("cookie", ""), "sid")
        if request.path == "/login" and request.method == "POST":
            body = request.json()
            self.logins += 1
            if body != {"username": PHONE, "password": PASSWORD}:
                return Response.json({"error": "USERNAME_PASSWORD_WRONG"}, 401)
            self.pending_sms = True
            return Response.json({"next": "SMS"})
        if request.path == "/otp" and request.method == "POST":
            if not self.pending_sms or request.json().get("otp") != SMS_CODE:
                return Response.json({"error": "OTP_WRONG"}, 400)
            self.pending_sms = False
            sid = secrets.token_hex(8)
            self.sessions.add(sid)
            return Response.json({}, headers={"Set-Cookie": f"sid={sid}; Path=/"})
        if session not in self.sessions:
            return Response(401, b"")
        if request.path == "/heartbeat":
            self.heartbeats += 1
            return Response(204, b"")
        if request.path == "/wealth":
            history = [
                {"date": (self.today - timedelta(days=n)).isoformat(),
                 "value": str(self.value(self.today - timedelta(days=n)))}
                for n in range(self.days)
            ]  # fmt: skip
            return Response.json({"value": str(self.value(self.today)), "history": history})
        return Response(404, b"")


def _cookie(header: str, name: str) -> str | None:
    for part in header.split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value
    return None


@register(CODE)
class AssistedBroker(BrokerIntegrationBase):
    secret_fields = ("password",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sid: str | None = None
        state = self.context.state
        if state:
            self.sid = json.loads(state).get("sid")
        self.http = httpx.Client(base_url=self.broker.api_base_url, timeout=5)

    def close(self) -> None:
        self.http.close()

    def _cookies(self) -> dict[str, str]:
        return {"Cookie": f"sid={self.sid}"} if self.sid else {}

    def authenticate(self) -> AuthResult:
        answer = self.http.post(
            "/login", json={k: self.credentials[k] for k in ("username", "password")}
        )
        if answer.status_code == 401:
            raise AuthenticationFailed("wrong phone number or password")
        return AuthResult(
            success=False, requires_2fa=True, two_fa_type="sms", session_data=b"sms",
            challenge_data={"text": "Enter the code sent to +41 79 *** ** 67"},
        )  # fmt: skip

    def complete_2fa(self, auth_code: str | None, session_data: bytes | None) -> AuthResult:
        answer = self.http.post("/otp", json={"otp": auth_code})
        if answer.status_code != 200:
            return AuthResult(success=False, requires_2fa=True, two_fa_type="sms",
                              session_data=b"sms", challenge_data={"text": "Wrong code"})  # fmt: skip
        self.sid = answer.cookies.get("sid")
        return AuthResult(success=True)

    def heartbeat(self) -> bool:
        if not self.sid:
            return False
        return self.http.get("/heartbeat", headers=self._cookies()).status_code == 204

    def _wealth(self) -> dict[str, Any]:
        answer = self.http.get("/wealth", headers=self._cookies())
        if answer.status_code == 401:
            raise AuthenticationFailed("the session ended")
        if answer.status_code != 200:
            raise MalformedAnswer(f"HTTP {answer.status_code}")
        return answer.json()

    def get_accounts(self) -> list[AccountInfo]:
        return [AccountInfo("3.123.456.789.01", "Pillar 3a", "retirement", "CHF")]

    def get_balance(self, account_identifier: str) -> BalanceInfo:
        wealth = self._wealth()
        return BalanceInfo(Decimal(wealth["value"]), "CHF", self.context.current_day())

    def supports_historical_data(self) -> bool:
        return True

    def get_historical_balances(
        self, account_identifier: str, start_date: date, end_date: date
    ) -> list[BalanceInfo]:
        return [
            BalanceInfo(Decimal(item["value"]), "CHF", date.fromisoformat(item["date"]))
            for item in self._wealth()["history"]
            if start_date <= date.fromisoformat(item["date"]) <= end_date
        ]

    def export_state(self) -> bytes | None:
        return json.dumps({"sid": self.sid}).encode() if self.sid else None


def add_assisted_broker(engine: Engine, base_url: str) -> None:
    """The double as an assisted catalogue row (its URL: the running service)."""
    with engine.begin() as connection:
        found = connection.execute(select(brokers.c.id).where(brokers.c.code == CODE)).first()
        if found is not None:
            connection.execute(
                brokers.update().where(brokers.c.code == CODE).values(api_base_url=base_url)
            )
            return
        connection.execute(
            insert(brokers).values(
                code=CODE, name="Assisted Bank", integration_type="rest", api_base_url=base_url,
                supports_2fa=True, supports_auto_sync=False, sync_mode="assisted",
                sync_note=f"{NOTE}.", credential_schema=SCHEMA,
            )
        )  # fmt: skip
