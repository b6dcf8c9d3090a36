"""True Wealth (Swiss robo-advisor) through the JSON API of its web app (unofficial).

Login is username, password and the current TOTP code, computed here from the stored base32
secret, so unattended syncs need no phone. The session is a cookie plus a double-submit XSRF
token (cookie `XSRF-TOKEN`, echoed in the `X-XSRF-TOKEN` header of every POST). The endpoint
shapes are modelled in `tests/fakes/truewealth.py`.

The login is sent once and never retried (a wrong password repeated can lock the account);
reads are retried on timeouts, 429 and 5xx. Accounts are the user's portfolios, in CHF.
"""

from __future__ import annotations

import binascii
from collections.abc import Mapping
from datetime import date
from typing import Any

import httpx
import pyotp

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
    http_error,
)
from wealth_pipeline.brokers.registry import register

SERVICE = "True Wealth"
XSRF_COOKIE = "XSRF-TOKEN"
XSRF_HEADER = "X-XSRF-TOKEN"
ACCOUNT_TYPES = {"FREE": "brokerage", "PILLAR_3A": "retirement", "VESTED_BENEFITS": "retirement"}
ASSET_CLASSES = {
    "EQUITY": "equity",
    "EQUITIES": "equity",
    "BOND": "fixed_income",
    "BONDS": "fixed_income",
    "REAL_ESTATE": "real_estate",
    "GOLD": "commodity",
    "COMMODITY": "commodity",
    "COMMODITIES": "commodity",
    "CASH": "cash",
}


def totp_code(secret: str) -> str:
    """The current TOTP code for `secret` (spaces and case as people copy them are fine)."""
    normalised = "".join(secret.split()).upper()
    try:
        return pyotp.TOTP(normalised).now()
    except (binascii.Error, ValueError):
        raise AuthenticationFailed(
            "The True Wealth TOTP secret is not a valid base32 secret (letters A-Z and digits "
            "2-7, at least 16 of them): copy it again from the two-factor setup"
        ) from None


# --- mapping answers (pure) ---------------------------------------------------------------


def parse_portfolios(payload: Any) -> list[AccountInfo]:
    accounts = []
    for item in webapi.items(payload, "the portfolio list"):
        portfolio = webapi.mapping(item, "a portfolio")
        kind = str(portfolio.get("type") or "").upper()
        accounts.append(
            AccountInfo(
                identifier=str(portfolio["id"]),
                name=str(portfolio.get("name") or f"Portfolio {portfolio['id']}"),
                account_type=ACCOUNT_TYPES.get(kind, "brokerage"),
                currency=webapi.currency(portfolio.get("currency"), "CHF"),
            )
        )
    return accounts


def parse_summary(payload: Any, today: date) -> BalanceInfo:
    """The balance in a `performanceSummary` (raw_data is added by the caller, redacted)."""
    summary = webapi.mapping(payload, "the performance summary")
    day = summary.get("valuationDate")
    return BalanceInfo(
        balance=webapi.amount(summary["totalValue"]),
        currency=webapi.currency(summary.get("currency"), "CHF"),
        balance_date=webapi.parse_day(day) if day else today,
    )


def parse_holdings(payload: Any) -> list[PositionInfo]:
    holdings = webapi.mapping(payload, "the holdings")
    default_currency = webapi.currency(holdings.get("currency"), "CHF")
    positions = []
    for item in webapi.items(holdings["positions"], "the positions"):
        row = webapi.mapping(item, "a position")
        isin = row.get("isin") or None
        kind = str(row.get("assetClass") or "").upper()
        positions.append(
            PositionInfo(
                symbol=str(row.get("ticker") or isin or row["name"]),
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


def parse_evolution(payload: Any, start: date, end: date) -> list[BalanceInfo]:
    """Daily values between `start` and `end` inclusive, oldest first."""
    evolution = webapi.mapping(payload, "the evolution")
    currency = webapi.currency(evolution.get("currency"), "CHF")
    balances = {}
    for item in webapi.items(evolution["points"], "the evolution points"):
        point = webapi.mapping(item, "an evolution point")
        day = webapi.parse_day(point["date"])
        if start <= day <= end:
            balances[day] = BalanceInfo(
                balance=webapi.amount(point["value"]), currency=currency, balance_date=day
            )
    return [balances[day] for day in sorted(balances)]


def login_error(exc: http.HttpFailure) -> BrokerError:
    """What a refused login means, from the status and the error code in the body."""
    if isinstance(exc, http.HttpRefused):
        code = webapi.error_code(exc)
        if code == "INVALID_TOTP":
            return AuthenticationFailed(
                "True Wealth refused the one-time code computed from the TOTP secret: check the "
                "secret, and that this machine's clock is right"
            )
        if code in ("INVALID_CREDENTIALS", "BAD_CREDENTIALS"):
            return AuthenticationFailed("True Wealth refused the username or password")
        if code == "ACCOUNT_LOCKED" or exc.status == 423:
            return AuthenticationFailed(
                "True Wealth has locked this login: unlock it on truewealth.ch, then sync again"
            )
        if code == "INVALID_CSRF_TOKEN":
            return MalformedAnswer("True Wealth refused the login's XSRF token")
    return http_error(exc, SERVICE)


# --- the integration ------------------------------------------------------------------------


@register("truewealth")
class TrueWealthIntegration(BrokerIntegrationBase):
    secret_fields = ("password", "totp_secret")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._client: httpx.Client | None = None
        self._logged_in = False

    def authenticate(self) -> AuthResult:
        client = self._http()
        if not client.cookies.get(XSRF_COOKIE):
            self.fetch_xsrf_token()
        body = {
            "loginId": str(self.credentials["username"]),
            "password": str(self.credentials["password"]),
            "token": totp_code(str(self.credentials["totp_secret"])),
        }
        try:
            response = http.request(
                client,
                "POST",
                "/api/auth/login",
                json=body,
                headers=self._xsrf(),
                retry=webapi.LOGIN_RETRY,
            )
        except http.HttpFailure as exc:
            raise login_error(exc) from None
        webapi.parse_json(response, SERVICE, "the login")
        self._logged_in = True
        return AuthResult(success=True)

    def get_accounts(self) -> list[AccountInfo]:
        payload = self._read("/api/portfolios", "the portfolio list")
        with webapi.reading(SERVICE, "the portfolio list", self.scrub):
            return parse_portfolios(payload)

    def get_balance(self, account_identifier: str) -> BalanceInfo:
        path = f"/api/portfolios/{account_identifier}/performanceSummary"
        payload = self._read(path, "the performance summary")
        with webapi.reading(SERVICE, "the performance summary", self.scrub):
            balance = parse_summary(payload, self.context.current_day())
            raw = webapi.clean_raw(self, {"performanceSummary": payload})
        return BalanceInfo(
            balance=balance.balance,
            currency=balance.currency,
            balance_date=balance.balance_date,
            raw_data=raw,
        )

    def get_positions(self, account_identifier: str) -> list[PositionInfo]:
        payload = self._read(f"/api/portfolios/{account_identifier}/holdings", "the holdings")
        with webapi.reading(SERVICE, "the holdings", self.scrub):
            return parse_holdings(payload)

    def supports_historical_data(self) -> bool:
        return True

    def get_historical_balances(
        self, account_identifier: str, start_date: date, end_date: date
    ) -> list[BalanceInfo]:
        params = {"from": start_date.isoformat(), "to": end_date.isoformat()}
        path = f"/api/portfolios/{account_identifier}/evolution"
        payload = self._read(path, "the evolution", params)
        with webapi.reading(SERVICE, "the evolution", self.scrub):
            return parse_evolution(payload, start_date, end_date)

    def close(self) -> None:
        """Log out (best effort: a failed logout must not hide the sync's result)."""
        if self._client is None:
            return
        try:
            if self._logged_in:
                http.request(
                    self._client,
                    "POST",
                    "/api/auth/logout",
                    headers=self._xsrf(),
                    retry=webapi.LOGIN_RETRY,
                )
        except (http.HttpFailure, httpx.HTTPError):
            pass
        finally:
            self._logged_in = False
            self._client.close()
            self._client = None

    # --- plumbing ---------------------------------------------------------------------------

    def fetch_xsrf_token(self) -> None:
        """Get the XSRF cookie the login must echo (a read: retried when transient)."""
        self._send("GET", "/api/auth/csrf", retry=self.context.retry)

    def _http(self) -> httpx.Client:
        if self._client is None:
            base = self.broker.api_base_url or "https://app.truewealth.ch"
            self._client = webapi.new_client(base, self.context.timeout_seconds)
        return self._client

    def _xsrf(self) -> dict[str, str]:
        token = self._http().cookies.get(XSRF_COOKIE)
        if not token:
            raise MalformedAnswer("True Wealth set no XSRF token cookie: the login page changed")
        return {XSRF_HEADER: token}

    def _send(
        self, method: str, path: str, *, retry: http.Retry, params: Mapping[str, str] | None = None
    ) -> httpx.Response:
        try:
            return http.request(self._http(), method, path, params=params, retry=retry)
        except http.HttpFailure as exc:
            if exc.status == 401:
                raise AuthenticationFailed(
                    "True Wealth ended the session (HTTP 401); the next sync logs in again"
                ) from None
            if exc.status == 404:
                raise MalformedAnswer(
                    f"True Wealth does not know {path} (HTTP 404): was the portfolio closed?"
                ) from None
            error = http_error(exc, SERVICE)
            raise type(error)(self.scrub(str(error))) from None

    def _read(self, path: str, what: str, params: Mapping[str, str] | None = None) -> Any:
        if not self._logged_in:
            self.authenticate()
        response = self._send("GET", path, retry=self.context.retry, params=params)
        return webapi.parse_json(response, SERVICE, what)
