"""Morgan Stanley at Work (equity compensation) through the GraphQL API of its web app.

What the evidence says (`brokers.md`; schulluk/WealthTracker
`docs/morgan-stanley-integration.md`, a fork that automated the live login; lsgd/WealthTracker
`backend/brokers/integrations/morganstanley.py`, the original app;
sebastianstarke-asot/morganstanley-moneymoney `MorganStanley.lua`):
- `POST {base}/graphql` with header `authorization: <JWT>`, the raw token (no `Bearer `), and
  header `employeeid: <employeePK>`: the employee key of the web session
  (`SW.initialData.activeAccount.employeePK`), not the JWT's `sub`. A wrong employee id
  answers 500 (reported here as "check the employee id", never retried as an outage), a
  missing one 400;
- the login itself sits behind Akamai bot protection, so the credential is the token a person
  copies from a logged-in browser (developer tools, a /graphql request's `authorization` and
  `employeeid` headers); the token (RS256) lives 900 seconds;
- the token's own `exp` is read without verifying the signature (only the service can): a
  token that ends before a sync could finish asks for a fresh one at once, without a request;
- while a sync runs, a token close to its end is renewed like the web app does:
  `POST {base}/rest/participant/v2/auth/tokens {authType: "ACCESS_TOKEN", accessToken: <old>}`
  with `Authorization: Bearer <old>` (the one place the prefix is used). Sources disagree on
  the answer: `{accessToken: {accessToken, expiresIn, ...}}` (schulluk) or `{accessToken:
  "<jwt>"}` (the MoneyMoney extension, for the mint): both are read. The renewed token is
  handed out by `export_state()` so the caller can keep it (encrypted) for a run that starts
  within its 15 minutes; it is never good for tonight's unattended run;
- the portfolio: `portfolio { availableValue { amount currency } unavailableValue { amount
  currency } totalValue { amount currency } }` with `operationName: null, variables: {}`;
  amounts are strings inside money objects, read as Decimal (raw_data keeps them exactly).
  The balance is the vested value (`availableValue`), plus the unvested awards
  (`unavailableValue`) when `include_unvested` is set. No balance history exists;
- an expired or foreign token is answered with "invalid token signature".

What is a guess (no source shows it):
- the holdings. No source confirms a holdings query: the original's top-level `holdings
  { symbol name quantity currentPrice {amount currency} marketValue {amount currency}
  costBasis {amount currency} grantType vestingStatus }` is tried in a query of its own, and
  any refusal gives no positions (logged), never a failed balance;
- the HTTP status of a refused token (401 here, and a 200 with `errors` is read the same way)
  and of a refused renewal (401);
- that a renewal answers like the mint.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from datetime import date
from decimal import Decimal
from typing import Any

import httpx
import jwt

from wealth_pipeline import http, money
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

SERVICE = "Morgan Stanley at Work"
DEFAULT_BASE_URL = "https://atwork.morganstanley.com"
TOKENS_PATH = "/rest/participant/v2/auth/tokens"
# A sync needs well under a minute; a token with less left could end in the middle of it.
MIN_LIFETIME_SECONDS = 60
# A token with less than this left is renewed before the next request.
RENEW_BEFORE_SECONDS = 300
FRESH_TOKEN_HINT = (
    "log in at atwork.morganstanley.com, open the browser's developer tools (Network tab, "
    "filter 'graphql'), copy the 'authorization' request header of a /graphql request as the "
    "account's new session token, and sync right away (`wealth accounts auth`): the token "
    "lives 15 minutes"
)
PORTFOLIO_QUERY = (
    "{ portfolio { availableValue { amount currency } unavailableValue { amount currency } "
    "totalValue { amount currency } } }"
)
# GUESS (see the module docstring): the original's holdings query, unconfirmed.
HOLDINGS_QUERY = (
    "{ holdings { symbol name quantity currentPrice { amount currency } marketValue { amount "
    "currency } costBasis { amount currency } grantType vestingStatus } }"
)


class SessionExpired(webapi.PersonNeeded):
    """The session token ended or was refused: only a person can paste a fresh one."""


# --- the token, read locally (no signature check: the service does that) -------------------


def token_expiry(token: str) -> float | None:
    """The `exp` claim (Unix seconds) of a JWT, None when it has none."""
    try:
        claims = jwt.decode(token, options={"verify_signature": False, "verify_exp": False})
    except jwt.PyJWTError:
        raise SessionExpired(
            f"The {SERVICE} session token is not a readable JWT: {FRESH_TOKEN_HINT}"
        ) from None
    exp = claims.get("exp")
    if isinstance(exp, bool) or not isinstance(exp, (int, float)):
        return None
    return float(exp)


def check_token(token: str, now: float) -> None:
    """Raise SessionExpired when the token ends before a sync could finish."""
    expiry = token_expiry(token)
    if expiry is not None and expiry <= now + MIN_LIFETIME_SECONDS:
        when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(expiry))
        state = "expired" if expiry <= now else "expires too soon for a sync"
        raise SessionExpired(f"The {SERVICE} session token {state} ({when}): {FRESH_TOKEN_HINT}")


def bare_token(value: str) -> str:
    """The raw JWT, without a `Bearer ` prefix pasted with it (the service refuses one)."""
    token = value.strip()
    if token[:7].lower() == "bearer ":
        token = token[7:].strip()
    return token


def renewed_token(payload: Any) -> str:
    """The token of a tokens-endpoint answer, in either shape the sources show."""
    body = webapi.mapping(payload, "the token answer")
    token = body["accessToken"]
    if isinstance(token, Mapping):
        token = token["accessToken"]
    if not isinstance(token, str) or token.count(".") != 2:
        raise ValueError("the token answer holds no JWT")
    return token


# --- mapping answers (pure) ---------------------------------------------------------------


def money_value(value: Any, what: str) -> tuple[Decimal, str]:
    """(amount, currency) of a money object `{amount: "123.45", currency: "USD"}`."""
    obj = webapi.mapping(value, what)
    return webapi.exact(obj["amount"]), webapi.currency(obj.get("currency"), "USD")


def graphql_error(errors: Any, scrub: Callable[[str], str] = str) -> BrokerError:
    """The typed error for a GraphQL `errors` list."""
    items = errors if isinstance(errors, list) else []
    messages = [str(e.get("message") or "") for e in items if isinstance(e, Mapping)]
    codes = []
    for error in items:
        extensions = error.get("extensions") if isinstance(error, Mapping) else None
        if isinstance(extensions, Mapping) and extensions.get("code"):
            codes.append(str(extensions["code"]).upper())
    text = " ".join(messages).lower()
    if "UNAUTHENTICATED" in codes or (
        "token" in text and any(w in text for w in ("signature", "expired", "invalid"))
    ):
        return SessionExpired(f"{SERVICE} no longer accepts the session token: {FRESH_TOKEN_HINT}")
    message = scrub(messages[0] if messages else "no message")[:200]  # scrub whole, then cut
    if "GRAPHQL_VALIDATION_FAILED" in codes:
        return MalformedAnswer(f"{SERVICE} does not know a field we asked for: {message}")
    code = codes[0] if codes else "no code"
    return MalformedAnswer(f"{SERVICE} answered with an error ({code}): {message}")


def parse_portfolio(
    portfolio: Mapping[str, Any], include_unvested: bool, today: date
) -> BalanceInfo:
    vested, currency = money_value(portfolio["availableValue"], "availableValue")
    unvested = Decimal(0)
    if portfolio.get("unavailableValue") is not None:
        unvested, other = money_value(portfolio["unavailableValue"], "unavailableValue")
        if other != currency and unvested != 0:
            raise ValueError(f"vested value in {currency}, unvested in {other}")
    raw = {
        "availableValue": {"amount": vested, "currency": currency},
        "unavailableValue": {"amount": unvested, "currency": currency},
        "includeUnvested": include_unvested,
    }
    if portfolio.get("totalValue") is not None:
        total, total_currency = money_value(portfolio["totalValue"], "totalValue")
        raw["totalValue"] = {"amount": total, "currency": total_currency}
    return BalanceInfo(
        balance=webapi.amount(vested + unvested if include_unvested else vested),
        currency=currency,
        balance_date=today,
        available_balance=webapi.amount(vested),
        raw_data=raw,
    )


def parse_holdings(payload: Any, include_unvested: bool) -> list[PositionInfo]:
    """GUESS-shaped holdings, merged per symbol; unvested ones only when they count."""
    merged: dict[str, dict[str, Any]] = {}
    for item in webapi.items(payload, "the holdings"):
        row = webapi.mapping(item, "a holding")
        status = str(row.get("vestingStatus") or "").upper()
        if "UNVESTED" in status and not include_unvested:
            continue
        symbol = str(row["symbol"]).strip().upper()
        value, currency = money_value(row["marketValue"], "marketValue")
        entry = merged.setdefault(
            symbol,
            {"name": str(row.get("name") or symbol), "quantity": Decimal(0), "value": Decimal(0)},
        )
        entry["quantity"] += webapi.exact(row["quantity"])
        entry["value"] += value
        entry["currency"] = currency
        if row.get("currentPrice") is not None:
            entry["price"] = money_value(row["currentPrice"], "currentPrice")[0]
    return [
        PositionInfo(
            symbol=symbol,
            name=entry["name"],
            quantity=webapi.quantity(entry["quantity"]),
            price_per_unit=webapi.price(entry.get("price")),
            market_value=webapi.amount(entry["value"]),
            currency=entry["currency"],
            asset_class="equity",
        )
        for symbol, entry in merged.items()
    ]


# --- the integration ------------------------------------------------------------------------


@register("morganstanley")
class MorganStanleyIntegration(BrokerIntegrationBase):
    secret_fields = ("jwt",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._client: httpx.Client | None = None
        self._portfolio: Mapping[str, Any] | None = None
        self._token = bare_token(str(self.credentials["jwt"]))
        self._renewed = False
        self.now: Callable[[], float] = time.time  # the clock (tests move it)
        self._take_saved_token()

    @property
    def base_url(self) -> str:
        base = (self.broker.api_base_url or DEFAULT_BASE_URL).rstrip("/")
        return base.removesuffix("/graphql")  # catalogue rows from before held the endpoint

    @property
    def employee_id(self) -> str:
        return str(self.credentials["employee_id"]).strip()

    @property
    def include_unvested(self) -> bool:
        return self.credentials.get("include_unvested") is True

    def scrub(self, text: str) -> str:
        """Also the renewed token, which is no credential but just as secret."""
        text = super().scrub(text)
        return text.replace(self._token, "[redacted]") if self._token else text

    def authenticate(self) -> AuthResult:
        """Refuse a token ending before the sync could finish (no request), then read the
        portfolio once: the service's own check of the token and the employee id."""
        check_token(self._token, self.now())
        self._portfolio = None
        self._read_portfolio()
        return AuthResult(success=True)

    def resume_session(self) -> bool:
        """Whether the token at hand (pasted, or renewed by an earlier run and saved) lives long
        enough for a sync; reads renew it as they go. Sends nothing: False means the account
        waits for a person to paste a fresh token."""
        try:
            check_token(self._token, self.now())
        except SessionExpired:
            return False
        return True

    def get_accounts(self) -> list[AccountInfo]:
        portfolio = self._read_portfolio()
        with webapi.reading(SERVICE, "the portfolio", self.scrub):
            _, currency = money_value(portfolio["availableValue"], "availableValue")
        return [
            AccountInfo(
                identifier=self.employee_id,
                name=f"{SERVICE} stock plan",
                account_type="brokerage",
                currency=currency,
            )
        ]

    def get_balance(self, account_identifier: str) -> BalanceInfo:
        self._check_account(account_identifier)
        portfolio = self._read_portfolio()
        with webapi.reading(SERVICE, "the portfolio", self.scrub):
            balance = parse_portfolio(portfolio, self.include_unvested, self.context.current_day())
        return BalanceInfo(
            balance=balance.balance,
            currency=balance.currency,
            balance_date=balance.balance_date,
            available_balance=balance.available_balance,
            raw_data=webapi.clean_raw(self, balance.raw_data or {}),
        )

    def get_positions(self, account_identifier: str) -> list[PositionInfo]:
        """GUESS: the holdings query is unconfirmed; a refusal gives none (logged)."""
        self._check_account(account_identifier)
        try:
            data = self._query(HOLDINGS_QUERY, "the holdings")
            with webapi.reading(SERVICE, "the holdings", self.scrub):
                return parse_holdings(data.get("holdings") or [], self.include_unvested)
        except MalformedAnswer as exc:
            log.warning("%s holdings were not read (the query is a guess): %s", SERVICE, exc)
            return []

    def supports_historical_data(self) -> bool:
        return False  # the API answers today's values only

    def export_state(self) -> bytes | None:
        """A token renewed during this run (secret: encrypt it), for a run within its life."""
        if not self._renewed:
            return None
        return json.dumps({"jwt": self._token, "employee_id": self.employee_id}).encode()

    def close(self) -> None:
        """Nothing to log out of (the browser owns the session); close the connections."""
        if self._client is not None:
            self._client.close()
            self._client = None

    # --- plumbing ---------------------------------------------------------------------------

    def _take_saved_token(self) -> None:
        """Use a token renewed by an earlier run when it outlives the pasted one."""
        if not self.context.state:
            return
        try:
            saved = json.loads(self.context.state)
            token = bare_token(str(saved["jwt"]))
            if str(saved.get("employee_id")) != self.employee_id:
                return
            if (token_expiry(token) or 0) > (token_expiry(self._token) or 0):
                self._token = token
        except (ValueError, KeyError, TypeError, AuthenticationFailed):
            log.warning("the saved %s token could not be read; the pasted one is used", SERVICE)

    def _check_account(self, account_identifier: str) -> None:
        if account_identifier != self.employee_id:
            raise MalformedAnswer(
                f"{SERVICE} serves one account per employee id; {account_identifier!r} is not "
                "this account's employee id"
            )

    def _http(self) -> httpx.Client:
        if self._client is None:
            self._client = webapi.new_client(
                self.base_url,
                self.context.timeout_seconds,
                headers={"Origin": self.base_url, "Referer": f"{self.base_url}/solium/servlet/ui"},
            )
        return self._client

    def _fresh_token(self) -> str:
        """The token, renewed first when it ends within RENEW_BEFORE_SECONDS."""
        now = self.now()
        expiry = token_expiry(self._token)
        if expiry is None or expiry - now > RENEW_BEFORE_SECONDS:
            return self._token
        if expiry <= now:
            raise SessionExpired(f"The {SERVICE} session token expired: {FRESH_TOKEN_HINT}")
        old = self._token
        try:
            response = http.request(
                self._http(),
                "POST",
                TOKENS_PATH,
                json={"authType": "ACCESS_TOKEN", "accessToken": old},
                headers={"Authorization": f"Bearer {old}"},
                retry=self.context.retry,
            )
            payload = webapi.parse_json(response, SERVICE, "the token renewal")
            with webapi.reading(SERVICE, "the token renewal", self.scrub):
                fresh = renewed_token(payload)
        except http.HttpFailure as exc:
            if exc.status in (401, 403):
                raise SessionExpired(
                    f"{SERVICE} refused to renew the session token: {FRESH_TOKEN_HINT}"
                ) from None
            if expiry - now > MIN_LIFETIME_SECONDS:  # still good for a while: carry on
                log.warning(
                    "%s token renewal failed (%s); the old token is used", SERVICE, exc.status
                )
                return old
            raise TemporarilyUnavailable(f"{SERVICE} did not renew the session token") from None
        self._token, self._renewed = fresh, True
        log.info("%s session token renewed", SERVICE)
        return fresh

    def _query(self, query: str, what: str) -> Mapping[str, Any]:
        """POST one GraphQL query; `data` of the answer, its errors raised typed.

        429, 502, 503 and timeouts are retried; a 500 is not: it is how the service answers a
        wrong employee id."""
        retry = self.context.retry
        body = {"operationName": None, "variables": {}, "query": query}
        for attempt in range(1, retry.max_attempts + 1):
            headers = {"authorization": self._fresh_token(), "employeeid": self.employee_id}
            try:
                response = http.request(
                    self._http(),
                    "POST",
                    "/graphql",
                    json=body,
                    headers=headers,
                    retry=webapi.LOGIN_RETRY,
                )
                break
            except http.HttpGaveUp as exc:
                if exc.status == 500:
                    raise AuthenticationFailed(
                        f"{SERVICE} answered HTTP 500, which is how it refuses an employee id "
                        "that is not the session's: check the employee id (the 'employeeid' "
                        "request header of a /graphql request, not the token's 'sub')"
                    ) from None
                if attempt == retry.max_attempts:
                    message = f"{SERVICE} is not answering: gave up after {attempt} attempts"
                    raise TemporarilyUnavailable(f"{message}, last: {exc}") from None
                time.sleep(retry.delay(attempt))
            except http.HttpRefused as exc:
                raise self._refused(exc) from None
        payload = webapi.parse_json(response, SERVICE, what)
        with webapi.reading(SERVICE, what, self.scrub):
            answer = webapi.mapping(payload, "the GraphQL answer")
            if answer.get("errors"):
                raise graphql_error(answer["errors"], self.scrub)
            return webapi.mapping(answer["data"], "data")

    def _refused(self, exc: http.HttpRefused) -> BrokerError:
        try:
            body = money.loads_json(exc.body)
        except (ValueError, UnicodeDecodeError):
            body = None
        errors = body.get("errors") if isinstance(body, Mapping) else None
        if exc.status == 401 or (errors and isinstance(graphql_error(errors), SessionExpired)):
            return SessionExpired(
                f"{SERVICE} refused the session token (HTTP {exc.status}): {FRESH_TOKEN_HINT}"
            )
        if errors:
            return graphql_error(errors, self.scrub)
        if exc.status == 400:
            return MalformedAnswer(
                f"{SERVICE} refused the request (HTTP 400), as it does without an employee id"
            )
        error = http_error(exc, SERVICE)
        return type(error)(self.scrub(str(error)))

    def _read_portfolio(self) -> Mapping[str, Any]:
        """The portfolio, queried once per run (accounts and balance share it)."""
        if self._portfolio is None:
            data = self._query(PORTFOLIO_QUERY, "the portfolio")
            with webapi.reading(SERVICE, "the portfolio", self.scrub):
                self._portfolio = webapi.mapping(data["portfolio"], "the portfolio")
        return self._portfolio
