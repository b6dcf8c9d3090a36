"""Users' profiles: base currency, sync frequency, monthly aggregation, weekly report.

Secrets live in `wealth_pipeline.security`; this module only reads and writes the plain
settings a person chooses (and never touches keys or credentials).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from sqlalchemy import Connection, func, select, update

from wealth_pipeline import clock
from wealth_pipeline.fx.lookup import ECB_CURRENCIES, ECB_ENDED, EURO_CHANGEOVERS
from wealth_pipeline.marts.changes import record_mart_change
from wealth_pipeline.text import control_character
from wealth_pipeline.warehouse.schema import (
    MONTHLY_AGGREGATIONS,
    account_snapshots,
    financial_accounts,
    profiles,
    sealed_data_keys,
    users,
)

# Matched whole (`fullmatch`): with `match`, "$" also accepts a trailing newline ("bob\n").
EMAIL_PATTERN = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
USERNAME_PATTERN = re.compile(r"[\w.@+-]{1,150}")


class ProfileError(ValueError):
    """A profile value that cannot be stored; the message says why."""


def supported_base_currencies(on: date | None = None) -> frozenset[str]:
    """EUR and every currency the ECB still quotes `on` (default today)."""
    on = on or clock.today()
    gone = {code for code, (joined, _) in EURO_CHANGEOVERS.items() if joined <= on}
    gone |= {code for code, ended in ECB_ENDED.items() if ended <= on}
    return frozenset(ECB_CURRENCIES - gone) | {"EUR"}


def check_base_currency(code: str, on: date | None = None) -> str:
    normalized = (code or "").strip().upper()
    supported = supported_base_currencies(on)
    if normalized not in supported:
        raise ProfileError(
            f"base currency {code!r} is not EUR or a currency the ECB quotes today; "
            f"choose one of {', '.join(sorted(supported))}"
        )
    return normalized


def check_email(address: str) -> str:
    address = (address or "").strip()
    if len(address) > 254 or not EMAIL_PATTERN.fullmatch(address) or control_character(address):
        raise ProfileError(f"{address!r} is not an email address")
    return address


def check_username(username: str) -> str:
    if not isinstance(username, str) or not USERNAME_PATTERN.fullmatch(username):
        raise ProfileError(
            f"username {username!r} must be 1-150 letters, digits or . @ + - _ (no spaces)"
        )
    return username


def check_monthly_aggregation(value: str) -> str:
    if value not in MONTHLY_AGGREGATIONS:
        raise ProfileError(
            f"monthly aggregation must be one of {', '.join(MONTHLY_AGGREGATIONS)}, not {value!r}"
        )
    return value


def user_id_for(connection: Connection, username: str) -> int | None:
    return connection.execute(select(users.c.id).where(users.c.username == username)).scalar()


@dataclass(frozen=True)
class UserSummary:
    """One user's plain settings (what `wealth users list` shows); no secrets."""

    id: int
    username: str
    email: str | None
    is_active: bool
    base_currency: str
    auto_sync_enabled: bool
    has_sealed_key: bool
    sync_key_id: str | None
    sync_frequency_hours: int
    monthly_aggregation: str
    weekly_report_enabled: bool
    report_email: str | None

    @property
    def report_recipient(self) -> str | None:
        return self.report_email or self.email


def _summary_query():
    return (
        select(
            users.c.id,
            users.c.username,
            users.c.email,
            users.c.is_active,
            profiles.c.base_currency,
            profiles.c.auto_sync_enabled,
            sealed_data_keys.c.sync_key_id,
            profiles.c.sync_frequency_hours,
            profiles.c.monthly_aggregation,
            profiles.c.weekly_report_enabled,
            profiles.c.report_email,
        )
        .select_from(users)
        .join(profiles, profiles.c.user_id == users.c.id)
        .outerjoin(sealed_data_keys, sealed_data_keys.c.user_id == users.c.id)
    )


def _summary(row) -> UserSummary:
    return UserSummary(
        id=row.id,
        username=row.username,
        email=row.email,
        is_active=bool(row.is_active),
        base_currency=row.base_currency,
        auto_sync_enabled=bool(row.auto_sync_enabled),
        has_sealed_key=row.sync_key_id is not None,
        sync_key_id=row.sync_key_id,
        sync_frequency_hours=row.sync_frequency_hours,
        monthly_aggregation=row.monthly_aggregation,
        weekly_report_enabled=bool(row.weekly_report_enabled),
        report_email=row.report_email,
    )


def list_users(connection: Connection) -> list[UserSummary]:
    rows = connection.execute(_summary_query().order_by(users.c.username)).all()
    return [_summary(row) for row in rows]


def get_user(connection: Connection, username: str) -> UserSummary | None:
    row = connection.execute(_summary_query().where(users.c.username == username)).first()
    return None if row is None else _summary(row)


def update_profile(
    connection: Connection,
    user_id: int,
    *,
    email: str | None = None,
    base_currency: str | None = None,
    sync_frequency_hours: int | None = None,
    monthly_aggregation: str | None = None,
    weekly_report_enabled: bool | None = None,
    report_email: str | None = None,
) -> None:
    """Change the given settings (None leaves one unchanged); validates before writing.

    The auto-sync flag is not set here: `security.sync_keys.enable_auto_sync` and
    `disable_auto_sync` set it together with the sealed data key.
    """
    user_values: dict[str, object] = {}
    profile_values: dict[str, object] = {}
    if email is not None:
        user_values["email"] = check_email(email)
    if report_email is not None:
        profile_values["report_email"] = check_email(report_email)
    if base_currency is not None:
        profile_values["base_currency"] = check_base_currency(base_currency)
    if sync_frequency_hours is not None:
        if (
            not isinstance(sync_frequency_hours, int)
            or isinstance(sync_frequency_hours, bool)
            or sync_frequency_hours < 1
        ):
            raise ProfileError(
                f"sync frequency must be a whole number of hours >= 1, not {sync_frequency_hours!r}"
            )
        profile_values["sync_frequency_hours"] = sync_frequency_hours
    if monthly_aggregation is not None:
        profile_values["monthly_aggregation"] = check_monthly_aggregation(monthly_aggregation)
    if weekly_report_enabled is not None:
        profile_values["weekly_report_enabled"] = weekly_report_enabled
    if weekly_report_enabled:
        current = connection.execute(
            select(users.c.email, profiles.c.report_email)
            .join(profiles, profiles.c.user_id == users.c.id)
            .where(users.c.id == user_id)
        ).first()
        has_address = (
            user_values.get("email")
            or profile_values.get("report_email")
            or (current is not None and (current.email or current.report_email))
        )
        if not has_address:
            raise ProfileError("the weekly report needs an email address: pass --email")
    if user_values:
        connection.execute(update(users).where(users.c.id == user_id).values(**user_values))
    if profile_values:
        if "base_currency" in profile_values:
            _record_base_currency_change(connection, user_id, profile_values["base_currency"])
        connection.execute(
            update(profiles).where(profiles.c.user_id == user_id).values(**profile_values)
        )


def _record_base_currency_change(connection: Connection, user_id: int, new: object) -> None:
    """A new base currency changes every day of the marts: rebuild from the first snapshot."""
    current = connection.execute(
        select(profiles.c.base_currency).where(profiles.c.user_id == user_id)
    ).scalar()
    if current == new:
        return
    first = connection.execute(
        select(func.min(account_snapshots.c.snapshot_date))
        .join(financial_accounts, financial_accounts.c.id == account_snapshots.c.account_id)
        .where(financial_accounts.c.user_id == user_id)
    ).scalar()
    if first is not None:
        record_mart_change(connection, user_id, first, f"base currency {current} -> {new}")
