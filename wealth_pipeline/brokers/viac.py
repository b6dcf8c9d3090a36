"""VIAC (Swiss pillar 3a) through the JSON API of its web app (unofficial).

Login is email and password; users who turned on two-factor authentication then get a code
by SMS. `authenticate()` answers `AuthResult(requires_2fa=True, two_fa_type="sms",
session_data=...)` in that case; `session_data` holds the waiting session's cookies (secret:
the caller encrypts it) so `complete_2fa(code, session_data)` can finish the login in another
process. POSTs carry the CSRF cookie's value in the `x-csrftoken` header. The endpoint shapes
are modelled in `tests/fakes/viac.py`.

The password and the code are each sent once (never retried); reads are retried on timeouts,
429 and 5xx. Accounts are the user's 3a portfolios, in CHF, with daily history.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import date
from typing import Any

import httpx

from wealth_pipeline import http
from wealth_pipeline.brokers import webapi
from wealth_pipeline.brokers.base import (
    AccountInfo,
    AuthenticationFailed,
    AuthResult,
    BalanceInfo,
    BrokerError,
    BrokerIntegrationBase,
    MalformedAnswer,
    PositionInfo,
    TwoFactorRequired,
    http_error,
)
from wealth_pipeline.brokers.registry import register

SERVICE = "VIAC"
AUTH = "/external-login/public/authentication"
CSRF_COOKIE = "csrftoken"
CSRF_HEADER = "x-csrftoken"
STATE_VERSION = 1
ACCOUNT_TYPES = {"PILLAR_3A": "retirement", "VESTED_BENEFITS": "retirement"}
ASSET_CLASSES = {
    "EQUITY": "equity",
    "EQUITIES": "equity",
    "BOND": "fixed_income",
    "BONDS": "fixed_income",
    "REAL_ESTATE": "real_estate",
    "COMMODITY": "commodity",
    "COMMODITIES": "commodity",
    "GOLD": "commodity",
    "CASH": "cash",
}


# --- mapping answers (pure) ---------------------------------------------------------------


def parse_accounts(summary: Any) -> list[AccountInfo]:
    body = webapi.mapping(summary, "the wealth summary")
    currency = webapi.currency(body.get("currency"), "CHF")
    accounts = []
    for item in webapi.items(body["portfolios"], "the portfolios"):
        portfolio = webapi.mapping(item, "a portfolio")
        kind = str(portfolio.get("type") or "").upper()
        accounts.append(
            AccountInfo(
                identifier=str(portfolio["id"]),
                name=str(portfolio.get("name") or f"VIAC portfolio {portfolio['id']}"),
                account_type=ACCOUNT_TYPES.get(kind, "retirement"),
                currency=currency,
            )
        )
    return accounts


def find_portfolio(summary: Any, identifier: str) -> Mapping[str, Any] | None:
    body = webapi.mapping(summary, "the wealth summary")
    for item in webapi.items(body["portfolios"], "the portfolios"):
        portfolio = webapi.mapping(item, "a portfolio")
        if str(portfolio["id"]) == identifier:
            return portfolio
    return None


def parse_balance(summary: Any, portfolio: Mapping[str, Any], today: date) -> BalanceInfo:
    body = webapi.mapping(summary, "the wealth summary")
    day = body.get("date")
    return BalanceInfo(
        balance=webapi.amount(portfolio["value"]),
        currency=webapi.currency(body.get("currency"), "CHF"),
        balance_date=webapi.parse_day(day) if day else today,
    )


def parse_history(summary: Any, identifier: str, start: date, end: date) -> list[BalanceInfo]:
    """One portfolio's days from `dailyWealth` (the total, when it is the only portfolio)."""
    body = webapi.mapping(summary, "the wealth summary")
    currency = webapi.currency(body.get("currency"), "CHF")
    only_one = len(webapi.items(body["portfolios"], "the portfolios")) == 1
    balances = {}
    for item in webapi.items(body["dailyWealth"], "the daily wealth"):
        entry = webapi.mapping(item, "a day of wealth")
        day = webapi.parse_day(entry["date"])
        if not start <= day <= end:
            continue
        by_portfolio = webapi.mapping(entry.get("byPortfolio") or {}, "byPortfolio")
        if identifier in by_portfolio:
            value = by_portfolio[identifier]
        elif only_one:
            value = entry["value"]
        else:
            continue  # a day VIAC did not split by portfolio cannot be attributed
        balances[day] = BalanceInfo(
            balance=webapi.amount(value), currency=currency, balance_date=day
        )
    return [balances[day] for day in sorted(balances)]


def parse_positions(payload: Any) -> list[PositionInfo]:
    body = webapi.mapping(payload, "the positions")
    default_currency = webapi.currency(body.get("currency"), "CHF")
    positions = []
    for item in webapi.items(body["positions"], "the positions"):
        row = webapi.mapping(item, "a position")
        isin = row.get("isin") or None
        kind = str(row.get("assetClass") or "").upper()
        positions.append(
            PositionInfo(
                symbol=str(isin or row["name"]),
                name=str(row["name"]),
                quantity=webapi.quantity(row["quantity"]),
                price_per_unit=webapi.price(row.get("price")),
                market_value=webapi.amount(row["value"]),
                currency=webapi.currency(row.get("currency"), default_currency),
                isin=str(isin) if isin else None,
                asset_class=ASSET_CLASSES.get(kind, "other"),
            )
        )
    return positions


def login_error(exc: http.HttpFailure) -> BrokerError:
    if isinstance(exc, http.HttpRefused):
        code = webapi.error_code(exc)
        if code == "INVALID_CREDENTIALS":
            return AuthenticationFailed("VIAC refused the email or password")
        if code == "ACCOUNT_LOCKED" or exc.status == 423:
            return AuthenticationFailed(
                "VIAC has locked this login after too many attempts: unlock it on viac.ch"
            )
        if exc.status == 403 and "CSRF" in exc.body.upper():
            return MalformedAnswer("VIAC refused the login's CSRF token")
    return http_error(exc, SERVICE)


# --- the state a waiting login resumes from -----------------------------------------------


def dump_cookies(client: httpx.Client) -> bytes:
    cookies = [
        {"name": c.name, "value": c.value, "domain": c.domain, "path": c.path}
        for c in client.cookies.jar
    ]
    return json.dumps({"version": STATE_VERSION, "cookies": cookies}).encode()


def load_cookies(client: httpx.Client, session_data: bytes) -> None:
    try:
        state = json.loads(session_data)
        if state["version"] != STATE_VERSION:
            raise ValueError("another version")
        for cookie in state["cookies"]:
            client.cookies.set(
                cookie["name"], cookie["value"], domain=cookie["domain"], path=cookie["path"]
            )
    except (ValueError, KeyError, TypeError):
        raise AuthenticationFailed(
            "The saved VIAC login cannot be resumed: sync again to receive a new code"
        ) from None


# --- the integration ------------------------------------------------------------------------


@register("viac")
class ViacIntegration(BrokerIntegrationBase):
    secret_fields = ("password",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._client: httpx.Client | None = None
        self._logged_in = False
        self._waiting: AuthResult | None = None  # a login waiting for its SMS code
        self._summary: Any = None

    def authenticate(self) -> AuthResult:
        client = self._http()
        if not client.cookies.get(CSRF_COOKIE):
            self.fetch_csrf_token()
        body = {
            "username": str(self.credentials["username"]),
            "password": str(self.credentials["password"]),
        }
        answer = self._post(f"{AUTH}/password/check/", body, "the login", login_error)
        status = str(answer.get("status") or "").upper()
        if status == "AUTHENTICATED":
            self._logged_in, self._waiting = True, None
            return AuthResult(success=True)
        if status == "TWO_FACTOR_REQUIRED":
            phone = str(answer.get("maskedPhoneNumber") or "your phone")
            self._waiting = AuthResult(
                success=False,
                requires_2fa=True,
                two_fa_type="sms",
                session_data=dump_cookies(client),
                challenge_data={
                    "text": f"Enter the code VIAC sent by SMS to {phone}",
                    "masked_phone_number": phone,
                },
            )
            return self._waiting
        raise MalformedAnswer(f"VIAC answered the login with an unknown status {status!r}")

    def complete_2fa(self, auth_code: str | None, session_data: bytes | None) -> AuthResult:
        code = (auth_code or "").strip()
        if not code:
            raise AuthenticationFailed("VIAC needs the code it sent by SMS; none was given")
        client = self._http()
        if session_data is not None:
            load_cookies(client, session_data)
        elif self._waiting is None:
            raise AuthenticationFailed(
                "No VIAC login is waiting for a code: sync again to receive a new one"
            )
        waiting = self._waiting or AuthResult(
            success=False, requires_2fa=True, two_fa_type="sms", session_data=session_data
        )

        def refused(exc: http.HttpFailure) -> BrokerError:
            code_name = webapi.error_code(exc)
            if code_name == "INVALID_CODE":
                left = _attempts_left(exc)
                if left is None or left > 0:
                    more = "" if left is None else f" ({left} attempts left)"
                    return TwoFactorRequired(f"VIAC refused the SMS code{more}", waiting)
                return AuthenticationFailed(
                    "VIAC refused the SMS code too often: sync again to receive a new one"
                )
            if code_name == "NO_PENDING_LOGIN":
                return AuthenticationFailed(
                    "The VIAC code expired before it was entered: sync again to receive a new one"
                )
            return login_error(exc)

        answer = self._post(f"{AUTH}/two-factor/verify/", {"code": code}, "the code check", refused)
        if str(answer.get("status") or "").upper() != "AUTHENTICATED":
            raise MalformedAnswer("VIAC answered the code without confirming the login")
        self._logged_in, self._waiting = True, None
        return AuthResult(success=True)

    def get_accounts(self) -> list[AccountInfo]:
        summary = self._wealth_summary()
        with webapi.reading(SERVICE, "the wealth summary", self.scrub):
            return parse_accounts(summary)

    def get_balance(self, account_identifier: str) -> BalanceInfo:
        summary = self._wealth_summary()
        with webapi.reading(SERVICE, "the wealth summary", self.scrub):
            portfolio = find_portfolio(summary, account_identifier)
            if portfolio is None:
                raise MalformedAnswer(
                    f"VIAC lists no portfolio {account_identifier}: was it closed?"
                )
            balance = parse_balance(summary, portfolio, self.context.current_day())
            raw = webapi.clean_raw(
                self,
                {
                    "portfolio": portfolio,
                    "date": summary.get("date"),
                    "currency": summary.get("currency"),
                    "totalValue": summary.get("totalValue"),
                },
            )
        return BalanceInfo(
            balance=balance.balance,
            currency=balance.currency,
            balance_date=balance.balance_date,
            raw_data=raw,
        )

    def get_positions(self, account_identifier: str) -> list[PositionInfo]:
        payload = self._get(f"/rest/web/portfolio/{account_identifier}/positions", "the positions")
        with webapi.reading(SERVICE, "the positions", self.scrub):
            return parse_positions(payload)

    def supports_historical_data(self) -> bool:
        return True

    def get_historical_balances(
        self, account_identifier: str, start_date: date, end_date: date
    ) -> list[BalanceInfo]:
        summary = self._wealth_summary()
        with webapi.reading(SERVICE, "the daily wealth", self.scrub):
            return parse_history(summary, account_identifier, start_date, end_date)

    def close(self) -> None:
        """Log out (best effort: a failed logout must not hide the sync's result)."""
        if self._client is None:
            return
        try:
            if self._logged_in and self._client.cookies.get(CSRF_COOKIE):
                http.request(
                    self._client,
                    "POST",
                    f"{AUTH}/logout/",
                    headers={CSRF_HEADER: self._client.cookies.get(CSRF_COOKIE) or ""},
                    retry=webapi.LOGIN_RETRY,
                )
        except (http.HttpFailure, httpx.HTTPError):
            pass
        finally:
            self._logged_in = False
            self._client.close()
            self._client = None

    # --- plumbing ---------------------------------------------------------------------------

    def fetch_csrf_token(self) -> None:
        """Get the CSRF cookie every POST must echo (a read: retried when transient)."""
        try:
            http.request(self._http(), "GET", f"{AUTH}/csrf/", retry=self.context.retry)
        except http.HttpFailure as exc:
            raise http_error(exc, SERVICE) from None

    def _http(self) -> httpx.Client:
        if self._client is None:
            base = self.broker.api_base_url or "https://app.viac.ch"
            self._client = webapi.new_client(base, self.context.timeout_seconds)
        return self._client

    def _post(
        self, path: str, body: Any, what: str, refused: Callable[[http.HttpFailure], BrokerError]
    ) -> Mapping[str, Any]:
        """POST once (a password or a code is never sent twice) and read the JSON object."""
        client = self._http()
        token = client.cookies.get(CSRF_COOKIE)
        if not token:
            raise MalformedAnswer("VIAC set no CSRF cookie: the login page changed")
        try:
            response = http.request(
                client,
                "POST",
                path,
                json=body,
                headers={CSRF_HEADER: token},
                retry=webapi.LOGIN_RETRY,
            )
        except http.HttpFailure as exc:
            raise refused(exc) from None
        answer = webapi.parse_json(response, SERVICE, what)
        if not isinstance(answer, Mapping):
            raise MalformedAnswer(f"VIAC answered {what} with something other than an object")
        return answer

    def _ensure_login(self) -> None:
        if self._logged_in:
            return
        result = self._waiting or self.authenticate()
        if result.requires_2fa:
            raise TwoFactorRequired("VIAC sent a code by SMS that a person has to enter", result)

    def _get(self, path: str, what: str) -> Any:
        self._ensure_login()
        try:
            response = http.request(self._http(), "GET", path, retry=self.context.retry)
        except http.HttpFailure as exc:
            if exc.status == 401:
                raise AuthenticationFailed(
                    "VIAC ended the session (HTTP 401); the next sync logs in again"
                ) from None
            if exc.status == 404:
                raise MalformedAnswer(
                    f"VIAC does not know {path} (HTTP 404): was the portfolio closed?"
                ) from None
            error = http_error(exc, SERVICE)
            raise type(error)(self.scrub(str(error))) from None
        return webapi.parse_json(response, SERVICE, what)

    def _wealth_summary(self) -> Any:
        """The summary, read once per run (accounts, balances and history all come from it)."""
        if self._summary is None:
            self._summary = self._get("/rest/web/wealth/summary", "the wealth summary")
        return self._summary


def _attempts_left(exc: http.HttpFailure) -> int | None:
    try:
        left = json.loads(exc.body).get("attemptsLeft")
    except (ValueError, AttributeError):
        return None
    return left if isinstance(left, int) else None
