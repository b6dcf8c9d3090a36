"""True Wealth (Swiss robo-advisor) through the JSON API of its web app (unofficial).

What the evidence says (`brokers.md`; lsgd/wealth and lsgd/WealthTracker
`backend/brokers/integrations/truewealth.py`, the original app used against the live service;
sboehler/fin `src/importer/truewealth.rs`, which parses saved answers):
- every call carries the web app's header set: `X-Client-Version`, `X-Requested-With:
  XMLHttpRequest`, a browser User-Agent, `Origin`/`Referer` of the app and `Accept: */*`;
  without them the service answers 400 with an empty body;
- XSRF is double-submit: the same token as cookie `__Host-XSRF-Token` and header
  `X-XSRF-Token` on every call; the original chose the token itself, and so do we;
- warm-up `GET /app/login?lang=en` and `GET /api/public/authCheck`, then
  `POST /api/auth/login {loginId, password, token}` (`token`: the TOTP code of the stored
  secret, RFC 6238); success is 200 or 204 with an empty body; 401 wrong credentials (JSON
  `message`), 403 TOTP invalid or expired, 400 with an empty body refused/blocked, 429;
- portfolios: `GET /api/user/fees/customer-fee-schedules` -> `[{portfolioId, ...}]`;
- balance: `GET /api/portfolios/{id}/performanceSummary` -> `{portfolioItem: {netValue,
  currency}, date}`;
- history: `GET /api/portfolios/{id}/evolution` (no parameters: all of it) -> `{currency,
  performance: [{date, vStart, vEnd, inflows, fees, netReturn}]}`, numbers with up to 8
  decimals; `vEnd` is the day's value, `inflows` its deposits (negative: withdrawals),
  `fees` its fees. Each day's raw_data keeps them exactly, for the returns. The series is
  not sorted, and reports zeros before the first contribution (sboehler/fin's tests): those
  days are no balance and are left out; a zero after the portfolio was emptied is kept.

What is a guess (no source shows it):
- portfolio names, kinds and currencies (the fee schedules carry ids only): the account is
  named after its id, a brokerage account in CHF unless the answers say another currency;
- the holdings: `GET /api/portfolios/{id}/holdings` is in the original's code, its shape is
  not confirmed (a list or `{holdings: [...]}` with `quantity|units`, `marketValue|value`,
  `price`, `symbol|ticker`, `isin`, `assetClass`). Positions are optional: any failure to read
  them is logged and gives none, never a failed balance;
- `POST /api/auth/logout` at the end (in the original's code, its answer unknown: best effort).

The login is sent once and never retried (a wrong password repeated can lock the account);
reads are retried on timeouts, 429 and 5xx. TOTP makes the sync unattended: no phone needed.
"""

from __future__ import annotations

import binascii
import logging
import secrets
from datetime import date
from typing import Any
from urllib.parse import urlsplit

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
    TemporarilyUnavailable,
    http_error,
)
from wealth_pipeline.brokers.registry import register

log = logging.getLogger(__name__)

SERVICE = "True Wealth"
DEFAULT_BASE_URL = "https://app.truewealth.ch"
CLIENT_VERSION = "v499.0.0"  # the web app's version the original sent (lsgd/WealthTracker)
XSRF_COOKIE = "__Host-XSRF-Token"
XSRF_HEADER = "X-XSRF-Token"
# Guess: the holdings' class names are unconfirmed; unknown ones become "other".
ASSET_CLASSES = {
    "EQUITY": "equity",
    "EQUITIES": "equity",
    "STOCK": "equity",
    "BOND": "fixed_income",
    "BONDS": "fixed_income",
    "FIXED_INCOME": "fixed_income",
    "REAL_ESTATE": "real_estate",
    "GOLD": "commodity",
    "COMMODITY": "commodity",
    "COMMODITIES": "commodity",
    "CASH": "cash",
}
BAD_SECRET = (
    "The True Wealth TOTP secret is not a valid base32 secret (letters A-Z and digits 2-7, at "
    "least 16 of them): copy it again from the two-factor setup"
)


def normalise_secret(secret: str) -> str:
    """The secret as pyotp wants it: without the spaces and lower case people copy it with."""
    return "".join(secret.split()).upper()


def totp_code(secret: str) -> str:
    """The current TOTP code for `secret`; AuthenticationFailed when it is not base32."""
    normalised = normalise_secret(secret)
    if len(normalised.rstrip("=")) < 16:
        raise AuthenticationFailed(BAD_SECRET)
    try:
        return pyotp.TOTP(normalised).now()
    except (binascii.Error, ValueError):
        raise AuthenticationFailed(BAD_SECRET) from None


# --- mapping answers (pure) ---------------------------------------------------------------


def parse_portfolios(payload: Any) -> list[AccountInfo]:
    """The fee schedules' distinct `portfolioId`s, in order (names and kinds are guesses)."""
    accounts: dict[str, AccountInfo] = {}
    for item in webapi.items(payload, "the fee schedules"):
        schedule = webapi.mapping(item, "a fee schedule")
        identifier = str(schedule["portfolioId"]).strip()
        if not identifier or identifier == "None":
            raise ValueError("a fee schedule without a portfolioId")
        accounts.setdefault(
            identifier,
            AccountInfo(
                identifier=identifier,
                name=f"True Wealth portfolio {identifier}",
                account_type="brokerage",
                currency="CHF",
            ),
        )
    return list(accounts.values())


def parse_summary(payload: Any, today: date) -> BalanceInfo:
    """The balance in a `performanceSummary`: `portfolioItem.netValue` (raw_data added later)."""
    summary = webapi.mapping(payload, "the performance summary")
    item = webapi.mapping(summary["portfolioItem"], "portfolioItem")
    day = summary.get("date")
    return BalanceInfo(
        balance=webapi.amount(item["netValue"]),
        currency=webapi.currency(item.get("currency"), "CHF"),
        balance_date=webapi.parse_day(day) if day else today,
    )


def parse_evolution(payload: Any, start: date, end: date) -> list[BalanceInfo]:
    """The days between `start` and `end` (inclusive), oldest first: `vEnd` is the value; the
    day's `vStart`, `inflows`, `fees` and `netReturn` stay exact in raw_data."""
    evolution = webapi.mapping(payload, "the evolution")
    currency = webapi.currency(evolution.get("currency"), "CHF")
    points = [
        webapi.mapping(item, "a day of the evolution")
        for item in webapi.items(evolution["performance"], "the evolution's performance")
    ]
    opened = webapi.opened_on(
        (webapi.parse_day(p["date"]), webapi.exact(p["vEnd"])) for p in points
    )
    balances = {}
    for point in points:
        day = webapi.parse_day(point["date"])
        if opened is None or day < opened or not start <= day <= end:
            continue
        value = point["vEnd"]
        raw = {"date": day.isoformat(), "vEnd": webapi.exact(value)}
        for name in ("vStart", "inflows", "fees", "netReturn"):
            if point.get(name) is not None:
                raw[name] = webapi.exact(point[name])
        balances[day] = BalanceInfo(
            balance=webapi.amount(value), currency=currency, balance_date=day, raw_data=raw
        )
    return [balances[day] for day in sorted(balances)]


def parse_holdings(payload: Any) -> list[PositionInfo]:
    """Guess: the holdings' shape is unconfirmed (see the module docstring)."""
    rows = payload if isinstance(payload, list) else webapi.mapping(payload, "the holdings")
    if not isinstance(rows, list):
        rows = rows.get("holdings", [])
    positions = []
    for item in webapi.items(rows, "the holdings"):
        row = webapi.mapping(item, "a holding")
        isin = row.get("isin") or None
        name = str(row.get("name") or row.get("description") or isin or row["symbol"])
        quantity = row["quantity"] if row.get("quantity") is not None else row["units"]
        value = row["marketValue"] if row.get("marketValue") is not None else row["value"]
        kind = str(row.get("assetClass") or "").upper().replace(" ", "_")
        positions.append(
            PositionInfo(
                symbol=str(row.get("symbol") or row.get("ticker") or isin or name),
                name=name,
                quantity=webapi.quantity(quantity),
                price_per_unit=webapi.price(row.get("price")),
                market_value=webapi.amount(value),
                currency=webapi.currency(row.get("currency"), "CHF"),
                isin=str(isin) if isin else None,
                asset_class=ASSET_CLASSES.get(kind, "other"),
            )
        )
    return positions


def login_error(exc: http.HttpFailure, scrub: Any = str) -> BrokerError:
    """What a refused login means (the statuses the original app met, `brokers.md`)."""
    if isinstance(exc, http.HttpGaveUp):
        return TemporarilyUnavailable(scrub(f"{SERVICE} is not answering the login: {exc}"))
    if exc.status == 401:
        return AuthenticationFailed("True Wealth refused the username or password")
    if exc.status == 403:
        return AuthenticationFailed(
            "True Wealth refused the one-time code computed from the TOTP secret (invalid or "
            "expired): check the secret, and that this machine's clock is right"
        )
    if exc.status == 400 and not exc.body.strip():
        return AuthenticationFailed(
            "True Wealth refused the login request itself (HTTP 400, empty answer): it blocks "
            "clients it does not recognise, or the web app's version changed; try again later "
            "and, if it persists, report it"
        )
    if exc.status == 429:
        return TemporarilyUnavailable("True Wealth is limiting logins (HTTP 429): try later")
    return MalformedAnswer(scrub(f"True Wealth refused the login (HTTP {exc.status})"))


# --- the integration ------------------------------------------------------------------------


@register("truewealth")
class TrueWealthIntegration(BrokerIntegrationBase):
    secret_fields = ("password", "totp_secret")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._client: httpx.Client | None = None
        self._logged_in = False
        self._warmed = False
        self._xsrf = secrets.token_hex(16).upper()  # double-submit: any token of our own
        self._evolutions: dict[str, Any] = {}

    @property
    def base_url(self) -> str:
        return (self.broker.api_base_url or DEFAULT_BASE_URL).rstrip("/")

    def authenticate(self) -> AuthResult:
        code = totp_code(str(self.credentials["totp_secret"]))  # before anything is sent
        self.warm_up()
        body = {
            "loginId": str(self.credentials["username"]),
            "password": str(self.credentials["password"]),
            "token": code,
        }
        try:
            http.request(
                self._http(),
                "POST",
                "/api/auth/login",
                json=body,
                headers={"Referer": f"{self.base_url}/app/login?lang=en"},
                retry=webapi.LOGIN_RETRY,
            )
        except http.HttpFailure as exc:
            raise login_error(exc, self.scrub) from None
        self._logged_in = True  # 200 or 204, the body (empty) is not read
        return AuthResult(success=True)

    def get_accounts(self) -> list[AccountInfo]:
        payload = self._read("/api/user/fees/customer-fee-schedules", "the fee schedules")
        with webapi.reading(SERVICE, "the fee schedules", self.scrub):
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
        """Guess-shaped and optional: a failure is logged and gives no positions."""
        try:
            path = f"/api/portfolios/{account_identifier}/holdings"
            payload = self._read(path, "the holdings")
            with webapi.reading(SERVICE, "the holdings", self.scrub):
                return parse_holdings(payload)
        except (MalformedAnswer, TemporarilyUnavailable) as exc:
            log.warning("True Wealth holdings of a portfolio were not read: %s", exc)
            return []

    def supports_historical_data(self) -> bool:
        return True

    def get_historical_balances(
        self, account_identifier: str, start_date: date, end_date: date
    ) -> list[BalanceInfo]:
        """From `evolution`, read once per portfolio and run (it answers the whole history)."""
        if account_identifier not in self._evolutions:
            path = f"/api/portfolios/{account_identifier}/evolution"
            self._evolutions[account_identifier] = self._read(path, "the evolution")
        with webapi.reading(SERVICE, "the evolution", self.scrub):
            return parse_evolution(self._evolutions[account_identifier], start_date, end_date)

    def close(self) -> None:
        """Log out (best effort: a failed logout must not hide the sync's result)."""
        if self._client is None:
            return
        try:
            if self._logged_in:
                http.request(self._client, "POST", "/api/auth/logout", retry=webapi.LOGIN_RETRY)
        except (http.HttpFailure, httpx.HTTPError):
            pass
        finally:
            self._logged_in = self._warmed = False
            self._client.close()
            self._client = None

    # --- plumbing ---------------------------------------------------------------------------

    def warm_up(self) -> None:
        """The web app's first calls, for the cookies they set (reads: retried when transient;
        what they answer is not needed, so a refusal is no reason to stop)."""
        if self._warmed:
            return
        for path in ("/app/login?lang=en", "/api/public/authCheck"):
            try:
                http.request(self._http(), "GET", path, retry=self.context.retry)
            except http.HttpGaveUp as exc:
                message = self.scrub(f"{SERVICE} is not answering: {exc}")
                raise TemporarilyUnavailable(message) from None
            except http.HttpRefused:
                pass
        self._warmed = True

    def _http(self) -> httpx.Client:
        if self._client is None:
            base = self.base_url
            self._client = webapi.new_client(
                base,
                self.context.timeout_seconds,
                headers={
                    "Accept": "*/*",
                    "X-Client-Version": CLIENT_VERSION,
                    "X-Requested-With": "XMLHttpRequest",
                    "Origin": base,
                    "Referer": f"{base}/app/overview",
                    XSRF_HEADER: self._xsrf,
                },
            )
            host = urlsplit(base).hostname or ""
            self._client.cookies.set(XSRF_COOKIE, self._xsrf, domain=host, path="/")
        return self._client

    def _send(self, method: str, path: str, retry: http.Retry) -> httpx.Response:
        try:
            return http.request(self._http(), method, path, retry=retry)
        except http.HttpFailure as exc:
            if exc.status == 401:
                raise AuthenticationFailed(
                    "True Wealth ended the session (HTTP 401); the next sync logs in again"
                ) from None
            if exc.status == 404:
                raise MalformedAnswer(
                    f"True Wealth does not know {path} (HTTP 404): was the portfolio closed?"
                ) from None
            if exc.status == 400 and not exc.body.strip():
                raise MalformedAnswer(
                    "True Wealth refused the request (HTTP 400, empty answer): the web app's "
                    "headers or version changed"
                ) from None
            error = http_error(exc, SERVICE)
            raise type(error)(self.scrub(str(error))) from None

    def _read(self, path: str, what: str) -> Any:
        if not self._logged_in:
            self.authenticate()
        response = self._send("GET", path, self.context.retry)
        return webapi.parse_json(response, SERVICE, what)
