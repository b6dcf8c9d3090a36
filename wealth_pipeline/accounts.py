"""Financial accounts: a user's logins at brokers and banks, and manual accounts.

Every lookup is scoped to its owner: another user's account id is "no such account",
exactly like an id that does not exist, so ids never reveal whether they are taken.
Credentials are stored only as the vault encrypts them; this module never sees a key.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, and_, delete, func, insert, select, update

from wealth_pipeline.brokers.catalogue import credential_fields
from wealth_pipeline.fx.lookup import RateBook
from wealth_pipeline.marts.changes import record_removed_account_change
from wealth_pipeline.profiles import get_user
from wealth_pipeline.text import check_plain
from wealth_pipeline.warehouse.schema import (
    ACCOUNT_TYPES,
    account_snapshots,
    brokers,
    financial_accounts,
)

NAME_LENGTH = 200
IDENTIFIER_LENGTH = 100


class AccountError(ValueError):
    """A request about accounts that cannot be done; the message says why."""


class NoSuchAccount(AccountError):
    def __init__(self, account_id: int) -> None:
        super().__init__(f"no such account: {account_id}")


@dataclass(frozen=True)
class Owner:
    id: int
    username: str
    base_currency: str


def find_user(connection: Connection, username: str) -> Owner:
    user = get_user(connection, username)
    if user is None:
        raise AccountError(f"no such user: {username}")
    if not user.is_active:
        raise AccountError(f"user {username} is deactivated")
    return Owner(user.id, user.username, user.base_currency)


def known_currency(code: str) -> bool:
    """Whether `code` is a currency the rate lookup can convert (ECB currencies and EUR)."""
    return _CURRENCIES.knows(code)


_CURRENCIES = RateBook({}, {})  # no rates: only its knowledge of ECB currency codes


def check_currency(code: str, known: Callable[[str], bool]) -> str:
    value = code.strip().upper()
    if len(value) != 3 or not value.isalpha() or not value.isascii():
        raise AccountError(f"bad currency {code!r}: use a 3-letter ISO 4217 code")
    if not known(value):
        raise AccountError(
            f"unknown currency {value}: the ECB publishes no reference rate for it, "
            "so its balances could never be converted"
        )
    return value


_ACCOUNT_COLUMNS = (
    *financial_accounts.c,
    brokers.c.code.label("broker_code"),
    brokers.c.name.label("broker_name"),
    brokers.c.integration_type,
    brokers.c.supports_auto_sync,
    brokers.c.sync_mode,
    brokers.c.sync_note,
    brokers.c.credential_schema,
)


def get_account(connection: Connection, user_id: int, account_id: int) -> Mapping[str, Any]:
    row = connection.execute(
        select(*_ACCOUNT_COLUMNS)
        .join(brokers, brokers.c.id == financial_accounts.c.broker_id)
        .where(and_(financial_accounts.c.id == account_id, financial_accounts.c.user_id == user_id))
    ).first()
    if row is None:
        raise NoSuchAccount(account_id)
    return row._mapping


def list_accounts(connection: Connection, user_id: int) -> list[Mapping[str, Any]]:
    """The user's accounts, each with its latest snapshot (date and balance) if any."""
    latest = (
        select(
            account_snapshots.c.account_id,
            func.max(account_snapshots.c.snapshot_date).label("day"),
        )
        .group_by(account_snapshots.c.account_id)
        .subquery()
    )
    query = (
        select(
            *_ACCOUNT_COLUMNS,
            account_snapshots.c.snapshot_date.label("latest_date"),
            account_snapshots.c.balance.label("latest_balance"),
            account_snapshots.c.currency.label("latest_currency"),
        )
        .join(brokers, brokers.c.id == financial_accounts.c.broker_id)
        .outerjoin(latest, latest.c.account_id == financial_accounts.c.id)
        .outerjoin(
            account_snapshots,
            and_(
                account_snapshots.c.account_id == latest.c.account_id,
                account_snapshots.c.snapshot_date == latest.c.day,
            ),
        )
        .where(financial_accounts.c.user_id == user_id)
        .order_by(financial_accounts.c.id)
    )
    return [row._mapping for row in connection.execute(query)]


def needs_credentials(broker: Mapping[str, Any]) -> bool:
    """Whether accounts at `broker` hold a login (then they are stored encrypted)."""
    return bool(credential_fields(broker["credential_schema"] or {}))


def create_account(
    connection: Connection,
    *,
    owner: Owner,
    broker: Mapping[str, Any],
    name: str,
    account_type: str,
    currency: str,
    identifier: str = "",
    credentials: dict[str, Any] | None = None,
    encrypt: Callable[[int, dict[str, Any]], bytes] | None = None,
) -> int:
    """Insert the account, then store its credentials encrypted with its id (same transaction).

    `credentials` must be validated already; `encrypt(account_id, credentials)` is the
    vault's, bound to the owner's unlocked data key.
    """
    name = name.strip()
    identifier = identifier.strip()
    if not name:
        raise AccountError("the account needs a name")
    if len(name) > NAME_LENGTH:
        raise AccountError(f"the name is longer than {NAME_LENGTH} characters")
    if len(identifier) > IDENTIFIER_LENGTH:
        raise AccountError(f"the identifier is longer than {IDENTIFIER_LENGTH} characters")
    try:
        check_plain(name, "the account name")
        check_plain(identifier, "the identifier")
    except ValueError as exc:
        raise AccountError(str(exc)) from None
    if account_type not in ACCOUNT_TYPES:
        raise AccountError(f"account type must be one of {', '.join(ACCOUNT_TYPES)}")
    if not broker["is_active"]:
        raise AccountError(f"broker {broker['code']} is not available any more")
    secured = needs_credentials(broker)
    if secured and (credentials is None or encrypt is None):
        raise AccountError(f"{broker['code']} accounts need credentials")
    duplicate = connection.execute(
        select(financial_accounts.c.id).where(
            and_(
                financial_accounts.c.user_id == owner.id,
                financial_accounts.c.broker_id == broker["id"],
                financial_accounts.c.account_identifier == identifier,
                financial_accounts.c.name == name,
            )
        )
    ).first()
    if duplicate is not None:
        raise AccountError(
            f"you already have a {broker['code']} account named {name!r}"
            + (f" with identifier {identifier}" if identifier else "")
            + f" (account {duplicate.id})"
        )
    is_manual = broker["integration_type"] == "manual"
    account_id = connection.execute(
        insert(financial_accounts)
        .values(
            user_id=owner.id,
            broker_id=broker["id"],
            name=name,
            account_identifier=identifier,
            account_type=account_type,
            currency=currency,
            status="active",
            is_manual=is_manual,
            sync_enabled=not is_manual,
        )
        .returning(financial_accounts.c.id)
    ).scalar_one()
    if secured:
        assert credentials is not None and encrypt is not None
        blob = encrypt(account_id, credentials)
        connection.execute(
            update(financial_accounts)
            .where(financial_accounts.c.id == account_id)
            .values(encrypted_credentials=blob)
        )
    return account_id


def set_sync(
    connection: Connection, user_id: int, account_id: int, enabled: bool
) -> Mapping[str, Any]:
    account = get_account(connection, user_id, account_id)
    if enabled and account["is_manual"]:
        raise AccountError(
            f"account {account_id} is a manual account: there is nothing to sync "
            "(record balances with `wealth snapshots add` or `wealth import csv`)"
        )
    connection.execute(
        update(financial_accounts)
        .where(financial_accounts.c.id == account_id)
        .values(sync_enabled=enabled)
    )
    return account


def remove_account(connection: Connection, user_id: int, account_id: int) -> int:
    """Delete the account with its snapshots (and their positions); returns snapshots removed."""
    get_account(connection, user_id, account_id)
    count, first = connection.execute(
        select(func.count(), func.min(account_snapshots.c.snapshot_date)).where(
            account_snapshots.c.account_id == account_id
        )
    ).one()
    connection.execute(
        delete(financial_accounts).where(
            and_(financial_accounts.c.id == account_id, financial_accounts.c.user_id == user_id)
        )
    )
    if first is not None:
        record_removed_account_change(
            connection, user_id, account_id, first, f"account {account_id} removed"
        )
    return count


def snapshot_count(connection: Connection, account_id: int) -> int:
    return connection.execute(
        select(func.count()).where(account_snapshots.c.account_id == account_id)
    ).scalar_one()
