"""VIAC (Swiss pillar 3a) through the JSON API of its web app (unofficial).

What the evidence says (`brokers.md`; smartpointer-com/wealthdb `collectors/viac/`
{DESIGN.md, login.py, viac_client.py, download.py, load.py}, a working httpx client of 2026;
dafuqwhocares/viac-moneymoney `VIAC.lua`; faragos/viac-portfolio-performance-api;
ThisIsntTheWay/viac-wealth-getter):
- the login is the mobile phone number in E.164 form (`+41...`) and the password;
- cookies: the Airlock session `AL_SESS-S` and a double-submit CSRF cookie `CSRFT<N>-S` (N: a
  build number that changes with VIAC's releases, so it is discovered from the cookie jar)
  echoed as header `x-csrft<N>` on POST/PUT/PATCH/DELETE; every request sends
  `X-Same-Domain: 1` and a browser User-Agent;
- flow: `GET /`, `DELETE .../authentication/flow/` (204), `POST .../password/check/
  {username, password}` -> 200 `{data: {attributes: {phoneNumber, nextAuthStep:
  "MTAN_OTP_REQUIRED"}}}` and an SMS, `POST .../mtan/otp/check/ {otp}` -> 200,
  `GET .../authentication/` (200), `POST /rest/web/customer/loginHook` (204);
- every fresh login needs the SMS code, so VIAC is assisted: `authenticate()` answers
  `AuthResult(requires_2fa=True, two_fa_type="sms", session_data=...)` and
  `complete_2fa(code, session_data)` finishes it, in the same or another process
  (`session_data` holds the waiting cookies: a secret, the caller encrypts it);
- a live session is reused: `GET /rest/web/heartbeat` answers 204 while it lives, 401 or a
  redirect when dead (`heartbeat()`); `export_state()` hands out the live session's cookies
  and the next run's `IntegrationContext.state` gives them back;
- errors are JSON:API `{errors: [{code}]}`: USERNAME_PASSWORD_WRONG (an authentication
  failure, never retried), RATE_LIMITED, OTP_WRONG and OTP_EXPIRED (the person is asked
  again; for an expired code VIAC first sends a new one);
- accounts from `GET /rest/web/wealth/portfolio-inventory` (`{p3a, pvb, inv}`, dotted numbers:
  first digit 3 pillar 3a, 2 vested benefits, 1 investing); values and each portfolio's whole
  daily history from `GET /rest/web/wealth/summary` (`p3aSummary.portfolioWealthSummaries
  ["<number>"].dailyWealth`, CHF, twenty-odd decimals: the balance keeps 4 places, raw_data
  the exact number); positions from `GET /rest/web/p3a/portfolio/{number}/assetsOverview`
  (`cashAmount`, `assetsByClasses` with `amount` units, `assetPrice`, `currencyCode`, `isin`,
  `ratioInChf` the value in CHF).

What is a guess (no source shows it):
- the HTTP statuses that carry the JSON:API errors (the codes are mapped whatever the status);
- `pvbSummary`/`invSummary` beside `p3aSummary` for vested-benefits and investing portfolios
  (the same shape is assumed), and `dailyInvestedAmounts` inside a portfolio's summary (kept in
  raw_data when present); positions of non-3a portfolios (no path known: none are read);
- a portfolio's balance date: the last day of its `dailyWealth`.

The password and the code are each sent once (never retried); reads are retried on timeouts,
429 and 5xx.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from datetime import date
from decimal import Decimal
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
    TemporarilyUnavailable,
    TwoFactorRequired,
    http_error,
)
from wealth_pipeline.brokers.registry import register

log = logging.getLogger(__name__)

SERVICE = "VIAC"
DEFAULT_BASE_URL = "https://app.viac.ch"
AUTH = "/external-login/public/authentication"
CSRF_COOKIE = re.compile(r"^CSRFT(\d+)-S$")
MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
ACCOUNT_TYPES = {"3": "retirement", "2": "retirement", "1": "brokerage"}
ACCOUNT_KINDS = {"3": "pillar 3a", "2": "vested benefits", "1": "investing"}
ASSET_CLASSES = {  # wealthdb load.py's names of the assetsByClasses keys
    "EQUITIES": "equity",
    "BONDS": "fixed_income",
    "REAL_ESTATE": "real_estate",
    "COMMODITIES": "commodity",
    "LIQUIDITY": "cash",
    "ALTERNATIVES": "other",
}
RESUME_HINT = "sync it now with `wealth accounts auth` to receive a new SMS code"


def normalise_phone(value: str) -> str:
    """`+41 79 123-45-67` -> `+41791234567`; a number without `+` country code is refused."""
    text = value.strip()
    digits = "".join(c for c in text[1:] if c.isdigit())
    if not text.startswith("+") or not 8 <= len(digits) <= 15 or digits[0] == "0":
        raise AuthenticationFailed(
            "VIAC logs in with your mobile number in international form with its country "
            "code (e.g. +41 79 123 45 67): update the account's credentials"
        )
    return "+" + digits


def csrf_header(cookie_names: Iterable[str]) -> tuple[str, str] | None:
    """(cookie, header) of the CSRF pair, e.g. (`CSRFT759-S`, `x-csrft759`), if a cookie is set."""
    for name in cookie_names:
        match = CSRF_COOKIE.match(name)
        if match:
            return name, f"x-csrft{match.group(1)}"
    return None


# --- mapping answers (pure) ---------------------------------------------------------------


def parse_inventory(payload: Any) -> list[AccountInfo]:
    """The portfolios of `portfolio-inventory`, 3a first, then vested benefits, investing."""
    inventory = webapi.mapping(payload, "the portfolio inventory")
    accounts = []
    for group in ("p3a", "pvb", "inv"):
        for item in webapi.items(inventory.get(group) or [], f"the {group} portfolios"):
            portfolio = webapi.mapping(item, "a portfolio")
            number = str(portfolio["number"]).strip()
            kind = number[:1]
            name = str(portfolio.get("name") or "").strip() or f"Portfolio {number}"
            accounts.append(
                AccountInfo(
                    identifier=number,
                    name=f"VIAC {ACCOUNT_KINDS.get(kind, 'portfolio')}: {name}",
                    account_type=ACCOUNT_TYPES.get(kind, "retirement"),
                    currency="CHF",
                )
            )
    return accounts


def portfolio_summary(summary: Any, number: str) -> Mapping[str, Any] | None:
    """The portfolio's entry in any `<kind>Summary.portfolioWealthSummaries` of the summary."""
    body = webapi.mapping(summary, "the wealth summary")
    for key, value in body.items():
        if not key.endswith("Summary") or not isinstance(value, Mapping):
            continue
        found = webapi.mapping(value.get("portfolioWealthSummaries") or {}, key).get(number)
        if found is not None:
            return webapi.mapping(found, "a portfolio's wealth summary")
    return None


def parse_history(entry: Mapping[str, Any], start: date, end: date) -> list[BalanceInfo]:
    """A portfolio's days in [start, end] from its `dailyWealth`, oldest first (the series is
    not sorted; its zeros before the first contribution are no balance: `webapi.opened_on`);
    raw_data keeps the exact value (and the day's invested amount, when the summary has one)."""
    invested: dict[date, Decimal] = {}
    for item in webapi.items(entry.get("dailyInvestedAmounts") or [], "dailyInvestedAmounts"):
        row = webapi.mapping(item, "a day of invested amounts")
        invested[webapi.parse_day(row["date"])] = webapi.exact(row["value"])
    rows = [
        webapi.mapping(item, "a day of wealth")
        for item in webapi.items(entry["dailyWealth"], "the daily wealth")
    ]
    opened = webapi.opened_on((webapi.parse_day(r["date"]), webapi.exact(r["value"])) for r in rows)
    balances = {}
    for row in rows:
        day = webapi.parse_day(row["date"])
        if opened is None or day < opened or not start <= day <= end:
            continue
        raw: dict[str, Any] = {"date": day.isoformat(), "value": webapi.exact(row["value"])}
        if day in invested:
            raw["investedAmount"] = invested[day]
        balances[day] = BalanceInfo(
            balance=webapi.amount(row["value"]), currency="CHF", balance_date=day, raw_data=raw
        )
    return [balances[day] for day in sorted(balances)]


def parse_assets(payload: Any) -> list[PositionInfo]:
    """`assetsOverview`: one position per asset (value in CHF), plus the cash."""
    overview = webapi.mapping(payload, "the assets overview")
    positions = []
    classes = webapi.mapping(overview.get("assetsByClasses") or {}, "assetsByClasses")
    for kind, rows in classes.items():
        for item in webapi.items(rows, f"the {kind} assets"):
            row = webapi.mapping(item, "an asset")
            isin = str(row.get("isin") or "").strip() or None
            name = str(row["name"])
            listed_in = webapi.currency(row.get("currencyCode"), "CHF")
            positions.append(
                PositionInfo(
                    symbol=isin or name,
                    name=name,
                    quantity=webapi.quantity(row["amount"]),
                    # the price is in the fund's currency: only a CHF price fits this CHF row
                    price_per_unit=webapi.price(row.get("assetPrice"))
                    if listed_in == "CHF"
                    else None,
                    market_value=webapi.amount(row["ratioInChf"]),
                    currency="CHF",
                    isin=isin,
                    asset_class=ASSET_CLASSES.get(str(kind).upper(), "other"),
                )
            )
    cash = overview.get("cashAmount")
    if cash is not None and webapi.exact(cash) != 0:
        positions.append(
            PositionInfo(
                symbol="CHF",
                name="Cash",
                quantity=webapi.quantity(cash),
                price_per_unit=Decimal(1),
                market_value=webapi.amount(cash),
                currency="CHF",
                asset_class="cash",
            )
        )
    return positions


def login_step(payload: Any) -> tuple[str, str]:
    """(nextAuthStep, masked phone number) of the password check's JSON:API answer."""
    attributes = webapi.mapping(webapi.mapping(payload, "the login")["data"], "data")
    attributes = webapi.mapping(attributes["attributes"], "the login's attributes")
    return str(attributes.get("nextAuthStep") or ""), str(attributes.get("phoneNumber") or "")


def login_error(exc: http.HttpFailure) -> BrokerError:
    """A refused password check, by its JSON:API code."""
    codes = webapi.json_api_error_codes(exc.body)
    if "USERNAME_PASSWORD_WRONG" in codes:
        return AuthenticationFailed(
            "VIAC refused the phone number or password (the number must include its country "
            "code, e.g. +41...)"
        )
    if "RATE_LIMITED" in codes or exc.status == 429:
        return TemporarilyUnavailable("VIAC is limiting logins (RATE_LIMITED): try again later")
    if codes:
        return MalformedAnswer(f"VIAC refused the login ({', '.join(codes)})")
    return http_error(exc, SERVICE)


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
        self._saved = False  # cookies of an earlier session were loaded
        if self.context.state:
            try:
                webapi.load_cookies(self._http(), self.context.state)
                self._saved = True
            except ValueError:
                log.warning("the saved VIAC session could not be read; a new login is needed")

    @property
    def base_url(self) -> str:
        return (self.broker.api_base_url or DEFAULT_BASE_URL).rstrip("/")

    def heartbeat(self) -> bool:
        """Whether the session held (loaded from a saved state, or this run's) is alive:
        VIAC answers 204 while it lives, 401 or a redirect when it is dead. No SMS is sent."""
        client = self._http()
        if not client.cookies.get("AL_SESS-S"):
            return False
        try:
            response = http.request(client, "GET", "/rest/web/heartbeat", retry=self.context.retry)
        except http.HttpRefused:
            return False
        except http.HttpGaveUp as exc:
            raise TemporarilyUnavailable(self.scrub(f"VIAC is not answering: {exc}")) from None
        return response.status_code == 204

    def resume_session(self) -> bool:
        """Reuse the session saved in `context.state` while VIAC keeps it alive (its heartbeat
        answers 204): the reads that follow use it. Never starts a login, never sends an SMS;
        False when there is no saved session or it is dead (the account waits for a person)."""
        if not self._logged_in and self._saved and self.heartbeat():
            self._logged_in, self._waiting = True, None
        return self._logged_in

    def authenticate(self) -> AuthResult:
        """Reuse a live saved session, or start a login that waits for the SMS code (a daily
        run that must not send an SMS calls `resume_session()` instead)."""
        if self._logged_in or (self._saved and self.heartbeat()):
            self._logged_in, self._waiting = True, None
            return AuthResult(success=True)
        phone = normalise_phone(str(self.credentials["username"]))
        self._fresh_client()
        self._step("GET", "/", self.context.retry)
        if csrf_header(c.name for c in self._http().cookies.jar) is None:
            raise MalformedAnswer("VIAC set no CSRFT<N>-S cookie: its login page changed")
        self._step("DELETE", f"{AUTH}/flow/", self.context.retry)
        try:
            response = self._send(
                "POST",
                f"{AUTH}/password/check/",
                webapi.LOGIN_RETRY,
                {"username": phone, "password": str(self.credentials["password"])},
            )
        except http.HttpFailure as exc:
            raise login_error(exc) from None
        payload = webapi.parse_json(response, SERVICE, "the login")
        with webapi.reading(SERVICE, "the login", self.scrub):
            step, masked = login_step(payload)
        if step != "MTAN_OTP_REQUIRED":
            raise MalformedAnswer(f"VIAC asked for an unknown login step {step!r}")
        self._waiting = self._sms_waiting(masked)
        return self._waiting

    def complete_2fa(self, auth_code: str | None, session_data: bytes | None) -> AuthResult:
        code = "".join((auth_code or "").split())
        if not code:
            raise AuthenticationFailed("VIAC needs the code it sent by SMS; none was given")
        waiting = self._waiting
        if session_data is not None:
            self._fresh_client()
            try:
                facts = webapi.load_cookies(self._http(), session_data)
            except ValueError:
                raise AuthenticationFailed(
                    f"The saved VIAC login cannot be resumed: {RESUME_HINT}"
                ) from None
            waiting = self._sms_waiting(str(facts.get("phone") or ""))
        elif waiting is None:
            raise AuthenticationFailed(f"No VIAC login is waiting for a code: {RESUME_HINT}")
        try:
            self._send("POST", f"{AUTH}/mtan/otp/check/", webapi.LOGIN_RETRY, {"otp": code})
        except http.HttpFailure as exc:
            codes = webapi.json_api_error_codes(exc.body)
            if "OTP_WRONG" in codes:
                return self._ask_again(waiting, "VIAC refused the SMS code: enter it again")
            if "OTP_EXPIRED" in codes:
                fresh = self.authenticate()  # VIAC sends a new code
                return self._ask_again(fresh, "The SMS code had expired: VIAC sent a new one")
            raise login_error(exc) from None
        self._step("GET", f"{AUTH}/", webapi.LOGIN_RETRY)
        self._step("POST", "/rest/web/customer/loginHook", webapi.LOGIN_RETRY)
        self._logged_in, self._waiting = True, None
        return AuthResult(success=True)

    def export_state(self) -> bytes | None:
        """The live session's cookies (secret: encrypt them), for the next run's heartbeat."""
        if not self._logged_in or self._client is None:
            return None
        return webapi.dump_cookies(self._client)

    def get_accounts(self) -> list[AccountInfo]:
        payload = self._get("/rest/web/wealth/portfolio-inventory", "the portfolio inventory")
        with webapi.reading(SERVICE, "the portfolio inventory", self.scrub):
            return parse_inventory(payload)

    def get_balance(self, account_identifier: str) -> BalanceInfo:
        entry = self._portfolio(account_identifier)
        with webapi.reading(SERVICE, "the wealth summary", self.scrub):
            history = parse_history(entry, date.min, date.max)
            if not history:
                raise MalformedAnswer(f"VIAC sent no value for portfolio {account_identifier}")
            last = history[-1]
            raw = {"portfolioNumber": account_identifier, **(last.raw_data or {})}
            total = webapi.mapping(self._summary, "the wealth summary").get("totalValue")
            if total is not None:
                raw["totalValue"] = webapi.exact(total)
        return BalanceInfo(
            balance=last.balance,
            currency="CHF",
            balance_date=last.balance_date,
            raw_data=webapi.clean_raw(self, raw),
        )

    def get_positions(self, account_identifier: str) -> list[PositionInfo]:
        if not account_identifier.startswith("3."):
            return []  # guess: only pillar 3a portfolios have a known assets path
        path = f"/rest/web/p3a/portfolio/{account_identifier}/assetsOverview"
        payload = self._get(path, "the assets overview")
        with webapi.reading(SERVICE, "the assets overview", self.scrub):
            return parse_assets(payload)

    def supports_historical_data(self) -> bool:
        return True

    def get_historical_balances(
        self, account_identifier: str, start_date: date, end_date: date
    ) -> list[BalanceInfo]:
        entry = self._portfolio(account_identifier)
        with webapi.reading(SERVICE, "the daily wealth", self.scrub):
            return parse_history(entry, start_date, end_date)

    def close(self) -> None:
        """Close the connections. The session is left alive on purpose: the next run reuses it
        while VIAC keeps it (no logout path is documented either)."""
        if self._client is not None:
            self._client.close()
            self._client = None

    # --- plumbing ---------------------------------------------------------------------------

    def _http(self) -> httpx.Client:
        if self._client is None:
            self._client = webapi.new_client(
                self.base_url,
                self.context.timeout_seconds,
                headers={"X-Same-Domain": "1", "Referer": f"{self.base_url}/"},
            )
        return self._client

    def _fresh_client(self) -> None:
        """A new cookie jar: a login never mixes with an old session's cookies."""
        if self._client is not None:
            self._client.close()
            self._client = None
        self._logged_in = self._saved = False
        self._summary = None

    def _send(self, method: str, path: str, retry: http.Retry, body: Any = None) -> httpx.Response:
        """One exchange; state-changing verbs echo the CSRF cookie in its `x-csrft<N>` header.
        Raises http.HttpFailure for the caller to map (`login_error`, `_step`, `_get`)."""
        client = self._http()
        headers = {}
        if method in MUTATING:
            pair = csrf_header(c.name for c in client.cookies.jar)
            if pair is None:
                raise MalformedAnswer("VIAC set no CSRFT<N>-S cookie: its login page changed")
            headers = {pair[1]: client.cookies.get(pair[0]) or "", "Origin": self.base_url}
        return http.request(client, method, path, json=body, headers=headers, retry=retry)

    def _step(self, method: str, path: str, retry: http.Retry) -> httpx.Response:
        """A step of the login whose refusal has no code of its own to map."""
        try:
            return self._send(method, path, retry)
        except http.HttpFailure as exc:
            error = http_error(exc, SERVICE)
            raise type(error)(self.scrub(f"{error} at {path}")) from None

    def _sms_waiting(self, masked_phone: str) -> AuthResult:
        phone = masked_phone or "your phone"
        return AuthResult(
            success=False,
            requires_2fa=True,
            two_fa_type="sms",
            session_data=webapi.dump_cookies(self._http(), phone=masked_phone),
            challenge_data={
                "text": f"Enter the code VIAC sent by SMS to {phone}",
                "masked_phone_number": phone,
            },
        )

    def _ask_again(self, waiting: AuthResult, why: str) -> AuthResult:
        challenge = dict(waiting.challenge_data or {})
        challenge["text"] = f"{why}. {challenge.get('text') or ''}".strip()
        self._waiting = AuthResult(
            success=False,
            requires_2fa=True,
            two_fa_type="sms",
            session_data=waiting.session_data,
            error_message=why,
            challenge_data=challenge,
        )
        return self._waiting

    def _ensure_login(self) -> None:
        if self._logged_in:
            return
        result = self._waiting or self.authenticate()
        if result.requires_2fa and not result.success:
            raise TwoFactorRequired("VIAC sent a code by SMS that a person has to enter", result)

    def _get(self, path: str, what: str) -> Any:
        self._ensure_login()
        try:
            response = self._send("GET", path, self.context.retry)
        except http.HttpFailure as exc:
            if exc.status in (301, 302, 303, 307, 401):
                self._logged_in = False
                raise webapi.PersonNeeded(f"VIAC ended the session: {RESUME_HINT}") from None
            if exc.status == 404:
                raise MalformedAnswer(
                    f"VIAC does not know {path} (HTTP 404): was the portfolio closed?"
                ) from None
            error = http_error(exc, SERVICE)
            raise type(error)(self.scrub(str(error))) from None
        return webapi.parse_json(response, SERVICE, what)

    def _portfolio(self, number: str) -> Mapping[str, Any]:
        """The portfolio's summary; the summary is read once per run."""
        if self._summary is None:
            self._summary = self._get("/rest/web/wealth/summary", "the wealth summary")
        with webapi.reading(SERVICE, "the wealth summary", self.scrub):
            entry = portfolio_summary(self._summary, number)
        if entry is None:
            raise MalformedAnswer(f"VIAC's wealth summary has no portfolio {number}: closed?")
        return entry
