"""Manual accounts: balances a person records, so there is no service to ask.

The integration exists so every account, manual ones included, goes through the same
interface: the login always succeeds (there is none), no accounts are discovered, and asking
for a balance answers `NoNewData` pointing at the commands that record one.
"""

from __future__ import annotations

from wealth_pipeline.brokers.base import (
    AccountInfo,
    AuthResult,
    BalanceInfo,
    BrokerIntegrationBase,
    NoNewData,
)
from wealth_pipeline.brokers.registry import register

HOW_TO_UPDATE = (
    "manual accounts are updated by hand: record a balance with `wealth snapshots add` "
    "or load several with `wealth import csv`"
)


@register("manual")
class ManualIntegration(BrokerIntegrationBase):
    """No remote calls at all: the person is the data source."""

    def authenticate(self) -> AuthResult:
        return AuthResult(success=True)

    def get_accounts(self) -> list[AccountInfo]:
        # The account exists only in the warehouse; there is nothing to discover.
        return []

    def get_balance(self, account_identifier: str) -> BalanceInfo:
        raise NoNewData(f"{self.broker.name}: {HOW_TO_UPDATE}")
