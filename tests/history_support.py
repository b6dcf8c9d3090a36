"""Shared by the history tests: a warehouse with the catalogue, a user, demo accounts, rates
from the ECB sample, and a test-only broker with history that needs credentials."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import Connection, Engine, insert, select

from tests.conftest import ECB_SAMPLE
from wealth_pipeline.accounts import Owner, create_account
from wealth_pipeline.brokers import demo
from wealth_pipeline.brokers.base import (
    AccountInfo,
    AuthenticationFailed,
    AuthResult,
    BalanceInfo,
    BrokerIntegrationBase,
)
from wealth_pipeline.brokers.catalogue import get_broker, load_catalogue
from wealth_pipeline.brokers.registry import register
from wealth_pipeline.fx.sources import EcbFileRates
from wealth_pipeline.fx.store import replace_rates
from wealth_pipeline.security.vault import Unlocked, encrypt_credentials
from wealth_pipeline.warehouse.schema import brokers, profiles, users

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


def load_sample_rates(engine: Engine, start: date, end: date) -> int:
    with engine.begin() as connection:
        return replace_rates(connection, EcbFileRates(location=str(ECB_SAMPLE)).fetch(start, end))


def make_user(connection: Connection, name: str = "alice", base: str = "EUR") -> Owner:
    user_id = connection.execute(
        insert(users).values(username=name).returning(users.c.id)
    ).scalar_one()
    connection.execute(insert(profiles).values(user_id=user_id, base_currency=base))
    return Owner(user_id, name, base)


def demo_account(connection: Connection, owner: Owner, info: AccountInfo) -> int:
    load_catalogue(connection)
    broker = get_broker(connection, "demo")
    assert broker is not None
    return create_account(
        connection,
        owner=owner,
        broker=broker,
        name=info.name,
        account_type=info.account_type,
        currency=info.currency,
        identifier=info.identifier,
    )


def history_fake_account(
    connection: Connection,
    owner: Owner,
    unlocked: Unlocked,
    token: str = HISTORY_SECRET,
    name: str = "History",
) -> int:
    broker_id = connection.execute(
        select(brokers.c.id).where(brokers.c.code == "histfake")
    ).scalar()
    if broker_id is None:
        broker_id = connection.execute(
            insert(brokers).values(
                code="histfake",
                name="History fake",
                integration_type="rest",
                supports_auto_sync=True,
                credential_schema={
                    "type": "object",
                    "properties": {"token": {"type": "string", "format": "password"}},
                },
            )
        ).inserted_primary_key[0]
    broker = get_broker(connection, "histfake")
    assert broker is not None
    return create_account(
        connection,
        owner=owner,
        broker=broker,
        name=name,
        account_type="brokerage",
        currency="EUR",
        identifier="H1",
        credentials={"token": token},
        encrypt=lambda account_id, values: encrypt_credentials(unlocked, account_id, values),
    )


__all__ = ["demo"]
