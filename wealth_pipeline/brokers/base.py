"""The one interface every broker and bank integration implements.

An integration is built from the broker's catalogue entry, the account's decrypted
credentials and an `IntegrationContext` (network settings, persisted session state, the
clock). It talks to exactly one service and reports every failure as one of the typed errors
below, whose messages a person understands and which never contain a secret.

Session state: integrations that keep state between runs (FinTS client data, a paused TAN
dialog) hand it out as bytes (`export_state`, `AuthResult.session_data`); the caller encrypts
it with the user's data key and gives it back next time (`IntegrationContext.state`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from types import TracebackType
from typing import Any, ClassVar

from wealth_pipeline import clock, http
from wealth_pipeline.brokers import redact

ASSET_CLASSES = (
    "equity",
    "fixed_income",
    "cash",
    "crypto",
    "commodity",
    "real_estate",
    "fund",
    "derivative",
    "other",
)


# --- what integrations answer -------------------------------------------------------------


@dataclass(frozen=True)
class AccountInfo:
    identifier: str  # IBAN, account number or the service's own id
    name: str
    account_type: str  # checking, savings, brokerage, retirement, ...
    currency: str  # ISO 4217


@dataclass(frozen=True)
class BalanceInfo:
    balance: Decimal
    currency: str
    balance_date: date
    available_balance: Decimal | None = None
    raw_data: dict[str, Any] | None = None  # the service's answer, secrets removed


@dataclass(frozen=True)
class PositionInfo:
    symbol: str
    name: str
    quantity: Decimal
    price_per_unit: Decimal | None
    market_value: Decimal
    currency: str
    isin: str | None = None
    cost_basis: Decimal | None = None
    asset_class: str = "other"  # one of ASSET_CLASSES


@dataclass(frozen=True)
class CashFlowInfo:
    """Money into (positive) or out of (negative) an account, as the service reports it."""

    flow_date: date
    amount: Decimal
    currency: str
    kind: str  # deposit, withdrawal, dividend, interest, fee, tax, transfer_in, transfer_out, other
    external_id: str | None = None  # the service's id: a re-sync never duplicates the flow
    description: str = ""
    raw_data: dict[str, Any] | None = None  # the service's record, secrets removed


@dataclass(frozen=True)
class AuthResult:
    success: bool
    requires_2fa: bool = False
    two_fa_type: str | None = None  # "app" (decoupled), "totp", "sms", "tan", "phototan", "flicker"
    session_data: bytes | None = None  # opaque state to resume with; encrypt before storing
    error_message: str | None = None
    challenge_data: dict[str, Any] | None = None  # text, image (base64), flicker code ...


# --- what goes wrong ------------------------------------------------------------------------


class BrokerError(Exception):
    """A failure talking to a broker; `str()` is a message for a person, free of secrets."""

    retryable: ClassVar[bool] = False
    # A person must act (approve, enter a code, paste a fresh token): the account waits in
    # `pending_auth` instead of `error`.
    needs_person: ClassVar[bool] = False


class AuthenticationFailed(BrokerError):
    """Wrong or blocked credentials, an expired token: never retried (banks lock accounts)."""


class ConfigurationProblem(BrokerError):
    """This installation is not set up for the broker (a setting such as
    WEALTH_FINTS_PRODUCT_ID, or the catalogue entry): fixed on this machine, not at the
    bank. Raised before any service is contacted; never retried."""


class TwoFactorRequired(BrokerError):
    """A person has to approve or enter a code; `auth` says how and holds the state to resume."""

    needs_person = True

    def __init__(self, message: str, auth: AuthResult) -> None:
        super().__init__(message)
        self.auth = auth


class TemporarilyUnavailable(BrokerError):
    """Maintenance, rate limits, timeouts, 5xx: worth trying again later."""

    retryable = True


class NoNewData(BrokerError):
    """The service answered, but has nothing newer than what we hold."""


class MalformedAnswer(BrokerError):
    """The service answered something we cannot read (HTML for JSON, truncated XML ...)."""


def http_error(exc: http.HttpFailure, service: str) -> BrokerError:
    """The typed error for a failed HTTP exchange (401/403 are authentication failures)."""
    if isinstance(exc, http.HttpGaveUp):
        return TemporarilyUnavailable(f"{service} is not answering: {exc}")
    if exc.status in (401, 403):
        return AuthenticationFailed(f"{service} refused the login (HTTP {exc.status})")
    if exc.status == 429:
        return TemporarilyUnavailable(f"{service} is limiting requests (HTTP 429)")
    return MalformedAnswer(f"{service} refused the request (HTTP {exc.status})")


# --- how integrations are built ---------------------------------------------------------------


@dataclass(frozen=True)
class BrokerConfig:
    """The catalogue entry an integration needs (a test points the URLs at local fakes)."""

    code: str
    name: str
    integration_type: str
    bank_identifier: str = ""
    fints_server: str = ""
    api_base_url: str = ""
    country: str = ""
    supports_2fa: bool = False
    supports_auto_sync: bool = False
    sync_mode: str = "unattended"  # unattended | assisted | manual (brokers.catalogue)

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> BrokerConfig:
        return cls(**{name: row[name] for name in cls.__dataclass_fields__ if name in row})


@dataclass(frozen=True)
class IntegrationContext:
    timeout_seconds: float = 20.0
    retry: http.Retry = field(default_factory=http.Retry)
    state: bytes | None = None  # what `export_state` gave last time, decrypted
    fints_product_id: str | None = None  # the FinTS product registration (ZKA)
    two_fa_wait_seconds: float = 120.0  # how long to wait for an app approval
    poll_interval_seconds: float = 3.0
    today: date | None = None  # the clock, for deterministic tests and the demo

    def current_day(self) -> date:
        return self.today or clock.today()


class BrokerIntegrationBase(ABC):
    """Base class: subclasses register with `@register("code", ...)` in `brokers.registry`."""

    codes: ClassVar[tuple[str, ...]] = ()
    # Credential fields whose values must never appear in messages or raw data.
    secret_fields: ClassVar[tuple[str, ...]] = ()

    def __init__(
        self,
        broker: BrokerConfig,
        credentials: Mapping[str, Any],
        context: IntegrationContext | None = None,
    ) -> None:
        self.broker = broker
        self.credentials = dict(credentials)
        self.context = context or IntegrationContext()

    def __repr__(self) -> str:  # never the credentials
        return f"{type(self).__name__}(broker={self.broker.code!r})"

    @classmethod
    def configuration_problems(
        cls, broker: BrokerConfig, context: IntegrationContext
    ) -> list[str]:
        """What this machine's settings or the catalogue entry lack for `broker`, one
        sentence each (empty: ready). Warned about at `wealth accounts add`; an integration
        raises `ConfigurationProblem` with them before its first request."""
        return []

    @abstractmethod
    def authenticate(self) -> AuthResult: ...

    def resume_session(self) -> bool:
        """Make the session kept in `context.state` usable without a fresh login.

        The daily run of an assisted broker (a person needed at every fresh login) calls only
        this, never `authenticate`: True when the saved session (cookies, a renewed token)
        still works, and the reads that follow reuse it; False when there is none or it is
        dead: the account then waits for its owner, it has not failed. Never sends a code,
        never starts a login. The default asks `heartbeat`.
        """
        return self.heartbeat()

    def heartbeat(self) -> bool:
        """Whether the saved session is still alive (VIAC: `/rest/web/heartbeat` answers 204),
        without a login. The default: no session to ask about."""
        return False

    def complete_2fa(self, auth_code: str | None, session_data: bytes | None) -> AuthResult:
        """Finish a login that needed a person (app approval when `auth_code` is None)."""
        raise AuthenticationFailed(f"{self.broker.name} has no second factor to complete")

    @abstractmethod
    def get_accounts(self) -> list[AccountInfo]: ...

    @abstractmethod
    def get_balance(self, account_identifier: str) -> BalanceInfo: ...

    def get_positions(self, account_identifier: str) -> list[PositionInfo]:
        return []

    def supports_historical_data(self) -> bool:
        return False

    def get_historical_balances(
        self, account_identifier: str, start_date: date, end_date: date
    ) -> list[BalanceInfo]:
        return []

    def supports_cash_flows(self) -> bool:
        """Whether `get_cash_flows` reports the account's flows completely for a range."""
        return False

    def cash_flow_span(
        self, account_identifier: str, start_date: date, end_date: date
    ) -> tuple[date, date] | None:
        """The days of [start, end] whose flows `get_cash_flows` reports completely (None:
        none). Services whose answers cover a limited period narrow it."""
        return (start_date, end_date) if self.supports_cash_flows() else None

    def get_cash_flows(
        self, account_identifier: str, start_date: date, end_date: date
    ) -> list[CashFlowInfo]:
        """Every flow of the account booked from `start_date` through `end_date`."""
        return []

    def export_state(self) -> bytes | None:
        """State worth keeping until the next run (encrypt before storing), if any."""
        return None

    def close(self) -> None:  # noqa: B027 - most services need nothing to close
        """End the session with the service (log out, close connections)."""

    def __enter__(self) -> BrokerIntegrationBase:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def scrub(self, text: str) -> str:
        """`text` with every secret credential value replaced (for messages built from answers)."""
        return redact.scrub(text, (self.credentials.get(name) for name in self.secret_fields))


def context_from_settings(settings: Any, state: bytes | None = None) -> IntegrationContext:
    """The context the pipeline and the CLI give integrations (`settings.Settings`)."""
    return IntegrationContext(
        timeout_seconds=settings.http_timeout_seconds,
        retry=http.Retry(
            max_attempts=settings.http_max_attempts, backoff_seconds=settings.http_backoff_seconds
        ),
        state=state,
        fints_product_id=settings.fints_product_id,
        two_fa_wait_seconds=settings.two_fa_wait_seconds,
    )
