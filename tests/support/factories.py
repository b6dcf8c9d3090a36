"""Factories for the tests' warehouses: users, brokers, accounts, snapshots and rates.

Each takes the caller's connection (one transaction per world), writes only what it is
given beside the columns a row needs, and returns the new row's id (a user: its `Owner`).
Scenario worlds (tests/support/api.py, marts.py, report.py, sync.py) are built from these.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from decimal import Decimal
from functools import partial
from typing import Any

from sqlalchemy import Connection, insert, select, update

from tests.support.data import ECB_SAMPLE
from wealth_pipeline.accounts import Owner, create_account, needs_credentials
from wealth_pipeline.brokers.catalogue import get_broker, load_catalogue
from wealth_pipeline.fx.sources import EcbFileRates
from wealth_pipeline.fx.store import replace_rates
from wealth_pipeline.security.kdf import KdfParams
from wealth_pipeline.security.vault import Unlocked, create_user, encrypt_credentials
from wealth_pipeline.warehouse.schema import (
    account_snapshots,
    brokers,
    exchange_rates,
    financial_accounts,
    portfolio_positions,
    profiles,
    users,
)

# Argon2id parameters the tests pass explicitly (production never lowers them).
CHEAP = KdfParams(time_cost=1, memory_kib=1024, parallelism=1)
PASSWORD = "correct horse battery staple"


def user(
    connection: Connection,
    name: str = "alice",
    base: str = "EUR",
    *,
    password: str | None = None,
    email: str | None = None,
    params: KdfParams = CHEAP,
    **profile: Any,
) -> Owner:
    """A user with a profile in `base`. With `password`, through the vault (a data key
    wrapped by the password, cheap Argon2); without, bare rows. `profile`: other columns."""
    if password is not None:
        user_id = create_user(
            connection, name, password, email=email, base_currency=base, params=params
        )
        if profile:
            connection.execute(
                update(profiles).where(profiles.c.user_id == user_id).values(**profile)
            )
    else:
        user_id = connection.execute(
            insert(users).values(username=name, email=email).returning(users.c.id)
        ).scalar_one()
        connection.execute(
            insert(profiles).values(user_id=user_id, base_currency=base, **profile)
        )
    return Owner(user_id, name, base)


def broker(connection: Connection, code: str, name: str | None = None, **values: Any) -> int:
    """The broker `code`: the catalogue's (loaded when needed), an earlier test row, or a new
    row with `values` (default: a manual integration without credentials)."""
    found = connection.execute(select(brokers.c.id).where(brokers.c.code == code)).scalar()
    if found is None and not values and name is None:
        load_catalogue(connection)
        found = connection.execute(select(brokers.c.id).where(brokers.c.code == code)).scalar()
    if found is not None:
        return found
    row = {"integration_type": "manual", "credential_schema": {}, **values}
    return connection.execute(
        insert(brokers).values(code=code, name=name or code, **row).returning(brokers.c.id)
    ).scalar_one()


def account(
    connection: Connection,
    owner: Owner | int,
    broker_code: str,
    name: str,
    *,
    kind: str = "checking",
    currency: str = "EUR",
    identifier: str = "",
    credentials: Mapping[str, Any] | None = None,
    unlocked: Unlocked | None = None,
    **values: Any,
) -> int:
    """An account of `owner` at `broker_code` (made by `broker` when missing), then `values`
    (status, status_message, ...) set on it.

    Through the product's `create_account` (credentials encrypted with the owner's
    `unlocked` data key); an account at a broker that needs credentials, given none, is a
    bare row (as if its credentials were never stored).
    """
    broker(connection, broker_code)
    found = get_broker(connection, broker_code)
    assert found is not None
    owner_id = owner if isinstance(owner, int) else owner.id
    if credentials is None and needs_credentials(found):
        account_id = connection.execute(
            insert(financial_accounts)
            .values(user_id=owner_id, broker_id=found["id"], name=name, currency=currency,
                    account_type=kind, account_identifier=identifier,
                    is_manual=found["integration_type"] == "manual")
            .returning(financial_accounts.c.id)
        ).scalar_one()  # fmt: skip
    else:
        if not isinstance(owner, Owner):
            owner = Owner(owner, "", "")
        encrypt = None
        if credentials is not None:
            assert unlocked is not None, "encrypting credentials needs the owner's unlocked key"
            encrypt = partial(encrypt_credentials, unlocked)
        account_id = create_account(
            connection, owner=owner, broker=found, name=name, account_type=kind,
            currency=currency, identifier=identifier,
            credentials=None if credentials is None else dict(credentials), encrypt=encrypt,
        )  # fmt: skip
    if values:
        connection.execute(
            update(financial_accounts).where(financial_accounts.c.id == account_id).values(**values)
        )
    return account_id


def snapshot(
    connection: Connection,
    account_id: int,
    day: date,
    balance: str,
    currency: str,
    *,
    base: str | None = None,
    base_currency: str | None = None,
    source: str = "manual",
    positions: Iterable[Mapping[str, Any]] = (),
    **values: Any,
) -> int:
    """A stored snapshot straight into the table, its conversion as given (`base` in
    `base_currency`; none: unconverted), and its positions (column values)."""
    snapshot_id = connection.execute(
        insert(account_snapshots)
        .values(
            account_id=account_id, snapshot_date=day, balance=Decimal(balance),
            currency=currency, snapshot_source=source,
            base_currency=None if base is None else base_currency,
            balance_base_currency=None if base is None else Decimal(base), **values,
        )
        .returning(account_snapshots.c.id)
    ).scalar_one()  # fmt: skip
    for position in positions:
        connection.execute(
            insert(portfolio_positions).values(
                snapshot_id=snapshot_id, currency=currency, **position
            )
        )
    return snapshot_id


def rates(connection: Connection, by_day: Mapping[date, Mapping[str, str]], **values: Any) -> None:
    """EUR rates: {day: {quote currency: units per EUR}}."""
    connection.execute(
        insert(exchange_rates),
        [
            {"rate_date": day, "quote_currency": code, "rate": Decimal(rate), "source": "test",
             **values}
            for day, quotes in by_day.items()
            for code, rate in quotes.items()
        ],
    )  # fmt: skip


def ecb_rates(connection: Connection, start: date, end: date) -> int:
    """The ECB sample's rates from `start` to `end`, as the ECB file source loads them."""
    return replace_rates(connection, EcbFileRates(location=str(ECB_SAMPLE)).fetch(start, end))
