"""Morgan Stanley at Work (equity compensation) through its GraphQL API, in USD.

The login is guarded by bot protection, so the credential is the session JWT a person copies
from a logged-in browser, sent as `Authorization: Bearer <jwt>` with an `employeeid` header.
Such a token lives hours, not months: when it has expired (its `exp` claim, checked here
before anything is sent, or the service's 401 / GraphQL `UNAUTHENTICATED`) the sync raises
`SessionExpired`, an `AuthenticationFailed` with `needs_person = True` and an
`auth = AuthResult(success=False, error_message=...)`, so the pipeline can mark the account
`pending_auth` and ask for a fresh token instead of recording a plain error.

One account per employee: the vested value (`availableValue`) is the balance, plus the
unvested awards (`unavailableValue`) when `include_unvested` is set. The API has no balance
history. GraphQL reports errors in an HTTP 200 answer; they are mapped like HTTP ones.
"""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import Callable, Mapping
from datetime import date
from decimal import Decimal
from typing import Any, ClassVar

import httpx

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

SERVICE = "Morgan Stanley at Work"
DEFAULT_URL = "https://atwork.morganstanley.com/graphql"
EXPIRY_MARGIN_SECONDS = 60  # a token this close to its end would expire during the sync
FRESH_TOKEN_HINT = (
    "log in at atwork.morganstanley.com in a browser and paste the bearer token of a /graphql "
    "request (developer tools, Network tab) as the account's new session token"
)
PORTFOLIO_QUERY = """
query WealthPipelinePortfolio {
  portfolio {
    asOfDate
    currency
    availableValue
    unavailableValue
    holdings { symbol name quantity price value vested }
  }
}
""".strip()
TEMPORARY_CODES = {"INTERNAL_SERVER_ERROR", "SERVICE_UNAVAILABLE", "TIMEOUT", "RATE_LIMITED"}


class SessionExpired(AuthenticationFailed):
    """The session token expired or was refused: only a person can paste a fresh one.

    `needs_person` tells the pipeline to mark the account pending_auth rather than error;
    `auth` is the failed AuthResult carrying the same message.
    """

    needs_person: ClassVar[bool] = True

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.auth = AuthResult(success=False, error_message=message)


# --- the token, read locally (no signature check: the service does that) -------------------


def token_expiry(token: str) -> int | None:
    """The `exp` claim (Unix seconds) of a JWT, None when it has none."""
    parts = token.strip().split(".")
    if len(parts) != 3:
        raise SessionExpired(
            f"The {SERVICE} session token is not a JWT (three dot-separated parts): "
            + FRESH_TOKEN_HINT
        )
    try:
        payload = money.loads_json(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise SessionExpired(
            f"The {SERVICE} session token cannot be read: " + FRESH_TOKEN_HINT
        ) from None
    exp = payload.get("exp") if isinstance(payload, Mapping) else None
    if isinstance(exp, bool) or not isinstance(exp, (int, Decimal)):
        return None
    return int(exp)


def check_token(token: str, now: float) -> None:
    """Raise SessionExpired when the token has expired (or will within a minute)."""
    expiry = token_expiry(token)
    if expiry is not None and expiry <= now + EXPIRY_MARGIN_SECONDS:
        when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(expiry))
        raise SessionExpired(f"The {SERVICE} session token expired at {when}: {FRESH_TOKEN_HINT}")


# --- mapping answers (pure) ---------------------------------------------------------------


def error_codes(errors: Any) -> list[str]:
    """The `extensions.code` of each GraphQL error, in order ('' where there is none)."""
    codes = []
    for error in errors if isinstance(errors, list) else []:
        extensions = error.get("extensions") if isinstance(error, Mapping) else None
        code = extensions.get("code") if isinstance(extensions, Mapping) else None
        codes.append(str(code or "").upper())
    return codes


def graphql_error(errors: Any, scrub: Callable[[str], str] = str) -> BrokerError:
    """The typed error for a GraphQL `errors` list (sent with HTTP 200 or 400)."""
    codes = error_codes(errors)
    first = errors[0] if isinstance(errors, list) and errors else None
    text = first.get("message") if isinstance(first, Mapping) else None
    message = scrub(str(text or "no message"))[:200]
    code = next((c for c in codes if c), "no code")
    if "UNAUTHENTICATED" in codes:
        return SessionExpired(f"{SERVICE} no longer accepts the session token: {FRESH_TOKEN_HINT}")
    if "FORBIDDEN" in codes:
        return AuthenticationFailed(
            f"{SERVICE} refused the employee ID for this session token: check the employee ID"
        )
    if TEMPORARY_CODES.intersection(codes):
        return TemporarilyUnavailable(f"{SERVICE} failed to answer ({code}): {message}")
    if "GRAPHQL_VALIDATION_FAILED" in codes:
        return MalformedAnswer(
            f"{SERVICE} no longer understands our query (the API changed): {message}"
        )
    return MalformedAnswer(f"{SERVICE} answered with an error ({code}): {message}")


def parse_portfolio(payload: Any, scrub: Callable[[str], str] = str) -> Mapping[str, Any]:
    """The `portfolio` object of a GraphQL answer; its errors raised as typed errors."""
    body = webapi.mapping(payload, "the GraphQL answer")
    if body.get("errors"):
        raise graphql_error(body["errors"], scrub)
    data = webapi.mapping(body["data"], "data")
    return webapi.mapping(data["portfolio"], "the portfolio")


def parse_balance(portfolio: Mapping[str, Any], include_unvested: bool, today: date) -> BalanceInfo:
    vested = webapi.amount(portfolio["availableValue"])
    unvested = webapi.amount(portfolio.get("unavailableValue") or 0)
    day = portfolio.get("asOfDate")
    return BalanceInfo(
        balance=vested + unvested if include_unvested else vested,
        currency=webapi.currency(portfolio.get("currency"), "USD"),
        balance_date=webapi.parse_day(day) if day else today,
        available_balance=vested,
    )


def parse_positions(portfolio: Mapping[str, Any], include_unvested: bool) -> list[PositionInfo]:
    """One position per symbol: vested lots, plus unvested ones when they count."""
    currency = webapi.currency(portfolio.get("currency"), "USD")
    merged: dict[str, dict[str, Any]] = {}
    for item in webapi.items(portfolio.get("holdings") or [], "the holdings"):
        row = webapi.mapping(item, "a holding")
        if row.get("vested") is False and not include_unvested:
            continue
        symbol = str(row["symbol"]).strip().upper()
        entry = merged.setdefault(
            symbol,
            {"name": str(row.get("name") or symbol), "quantity": Decimal(0), "value": Decimal(0)},
        )
        entry["quantity"] += money.to_decimal(row["quantity"])
        entry["value"] += money.to_decimal(row["value"])
        entry["price"] = row.get("price")
    return [
        PositionInfo(
            symbol=symbol,
            name=entry["name"],
            quantity=webapi.quantity(entry["quantity"]),
            price_per_unit=webapi.price(entry["price"]),
            market_value=webapi.amount(entry["value"]),
            currency=currency,
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

    @property
    def employee_id(self) -> str:
        return str(self.credentials["employee_id"]).strip()

    @property
    def include_unvested(self) -> bool:
        return self.credentials.get("include_unvested") is True

    def authenticate(self) -> AuthResult:
        """Check the token's expiry, then read the portfolio once (the service's own check)."""
        self._portfolio = None
        self._read_portfolio()
        return AuthResult(success=True)

    def get_accounts(self) -> list[AccountInfo]:
        portfolio = self._read_portfolio()
        with webapi.reading(SERVICE, "the portfolio", self.scrub):
            currency = webapi.currency(portfolio.get("currency"), "USD")
        return [
            AccountInfo(
                identifier=self.employee_id,
                name=f"{SERVICE} stock plan",
                account_type="brokerage",
                currency=currency,
            )
        ]

    def get_balance(self, account_identifier: str) -> BalanceInfo:
        portfolio = self._portfolio_of(account_identifier)
        with webapi.reading(SERVICE, "the portfolio", self.scrub):
            balance = parse_balance(portfolio, self.include_unvested, self.context.current_day())
            raw = webapi.clean_raw(self, {"portfolio": portfolio})
        return BalanceInfo(
            balance=balance.balance,
            currency=balance.currency,
            balance_date=balance.balance_date,
            available_balance=balance.available_balance,
            raw_data=raw,
        )

    def get_positions(self, account_identifier: str) -> list[PositionInfo]:
        portfolio = self._portfolio_of(account_identifier)
        with webapi.reading(SERVICE, "the holdings", self.scrub):
            return parse_positions(portfolio, self.include_unvested)

    def supports_historical_data(self) -> bool:
        return False  # the API answers today's values only

    def close(self) -> None:
        """Nothing to log out of (the browser owns the session); close the connections."""
        if self._client is not None:
            self._client.close()
            self._client = None

    # --- plumbing ---------------------------------------------------------------------------

    def _portfolio_of(self, account_identifier: str) -> Mapping[str, Any]:
        if account_identifier != self.employee_id:
            raise MalformedAnswer(
                f"{SERVICE} serves one account per employee ID; {account_identifier!r} is not "
                "this account's employee ID"
            )
        return self._read_portfolio()

    def _read_portfolio(self) -> Mapping[str, Any]:
        """The portfolio, queried once per run (accounts, balance and positions share it)."""
        if self._portfolio is not None:
            return self._portfolio
        token = str(self.credentials["jwt"]).strip()
        if token.lower().startswith("bearer "):
            token = token[len("bearer ") :].strip()
        check_token(token, time.time())
        if self._client is None:
            self._client = webapi.new_client("", self.context.timeout_seconds)
        headers = {"Authorization": f"Bearer {token}", "employeeid": self.employee_id}
        try:
            response = http.request(
                self._client,
                "POST",
                self.broker.api_base_url or DEFAULT_URL,
                json={"operationName": "WealthPipelinePortfolio", "query": PORTFOLIO_QUERY},
                headers=headers,
                retry=self.context.retry,
            )
        except http.HttpFailure as exc:
            raise self._http_failure(exc) from None
        payload = webapi.parse_json(response, SERVICE, "the portfolio query")
        with webapi.reading(SERVICE, "the portfolio", self.scrub):
            self._portfolio = parse_portfolio(payload, self.scrub)
        return self._portfolio

    def _http_failure(self, exc: http.HttpFailure) -> BrokerError:
        if exc.status == 401:
            return SessionExpired(
                f"{SERVICE} refused the session token (HTTP 401): {FRESH_TOKEN_HINT}"
            )
        if isinstance(exc, http.HttpRefused) and exc.status == 400:
            try:
                body = money.loads_json(exc.body)
            except ValueError:
                body = None
            if isinstance(body, Mapping) and body.get("errors"):
                return graphql_error(body["errors"], self.scrub)
        error = http_error(exc, SERVICE)
        return type(error)(self.scrub(str(error)))
