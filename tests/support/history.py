"""Shared by the history tests: demo accounts and a test-only broker with history that needs
credentials."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import Connection

from tests.support import factories
from wealth_pipeline.accounts import Owner
from wealth_pipeline.brokers import demo
from wealth_pipeline.brokers.base import (
    AccountInfo,
    AuthenticationFailed,
    AuthResult,
    BalanceInfo,
    BrokerIntegrationBase,
)
from wealth_pipeline.brokers.registry import register
from wealth_pipeline.security.vault import Unlocked

HISTORY_SECRET = "hist-token-314159-secret"


@register("histfake")
class HistoryFake(BrokerIntegrationBase):
    """History of one EUR account: 1000.00 plus the day of the month; refuses a wrong token."""

    secret_fields = ("token",)

    def authenticate(self) -> AuthResult:
        if self.credentials.get("token") != HISTORY_SECRET:
            raise AuthenticationFailed(f"token {self.credentials.get('token')} refused")
        return AuthResult(success=True)

    def get_accounts(self) -> list[AccountInfo]:
        return [AccountInfo("H1", "History", "brokerage", "EUR")]

    def get_balance(self, account_identifier: str) -> BalanceInfo:
        return self.get_historical_balances(account_identifier, date.min, date.max)[-1]

    def supports_historical_data(self) -> bool:
        return True

    def get_historical_balances(
        self, account_identifier: str, start_date: date, end_date: date
    ) -> list[BalanceInfo]:
        last = min(end_date, self.context.current_day())
        first = max(start_date, last - timedelta(days=59))  # the broker reaches 60 days back
        return [
            BalanceInfo(Decimal(1000 + day.day), "EUR", day, raw_data={"token": HISTORY_SECRET})
            for day in (first + timedelta(days=n) for n in range((last - first).days + 1))
        ]


def history_fake_account(
    connection: Connection,
    owner: Owner,
    unlocked: Unlocked,
    token: str = HISTORY_SECRET,
    name: str = "History",
) -> int:
    """An account at the test-only `histfake` broker, its token stored encrypted."""
    factories.broker(
        connection, "histfake", "History fake", integration_type="rest",
        supports_auto_sync=True,
        credential_schema={
            "type": "object", "properties": {"token": {"type": "string", "format": "password"}},
        },
    )  # fmt: skip
    return factories.account(
        connection, owner, "histfake", name, kind="brokerage", identifier="H1",
        credentials={"token": token}, unlocked=unlocked,
    )  # fmt: skip


def demo_account(connection: Connection, owner: Owner, info: AccountInfo) -> int:
    """An account at the demo broker, as `info` describes it."""
    return factories.account(
        connection, owner, "demo", info.name, kind=info.account_type, currency=info.currency,
        identifier=info.identifier,
    )  # fmt: skip


__all__ = ["demo"]
