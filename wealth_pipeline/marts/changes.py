"""Recording what the marts must rebuild, in the writer's own transaction.

`record_account_change(connection, account_id, day, reason)` when a change concerns one
account (its snapshots, positions or cash flows; `record_removed_account_change` once the
account is gone); `record_mart_change(connection, user_id, day, reason)` when it concerns the
user as a whole (a base-currency change, a broker renamed, conversions). Both keep the
earliest day; `marts.build` reads and consumes them.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, case, select

from wealth_pipeline import clock
from wealth_pipeline.warehouse import dialect
from wealth_pipeline.warehouse.schema import financial_accounts, mart_account_changes, mart_changes


def _changed_now() -> datetime:
    # Microseconds, not SQLite's CURRENT_TIMESTAMP (whole seconds): a build consumes a
    # change only if `changed_at` is exactly what it read, so two changes within one second
    # must differ.
    return clock.now()


def record_mart_change(connection: Connection, user_id: int, day: date, reason: str) -> None:
    """Remember that the user's data changed from `day` on, for every account and the
    user-level marts (keeps the earliest such day). For a change that concerns one account
    only, `record_account_change` rebuilds less."""
    _record_user_change(connection, user_id, day, reason, accounts_only=False)


def record_account_change(connection: Connection, account_id: int, day: date, reason: str) -> None:
    """Remember that one account's data changed from `day` on: the build rebuilds that
    account's daily rows from `day` and the user-level marts from there, not the user's other
    accounts. Works for an account just removed too (recorded before or after the delete,
    in the same transaction): its rows are then rebuilt away."""
    user_id = connection.execute(
        select(financial_accounts.c.user_id).where(financial_accounts.c.id == account_id)
    ).scalar()
    if user_id is None:
        raise ValueError(f"no such account: {account_id}")
    record_removed_account_change(connection, user_id, account_id, day, reason)


def record_removed_account_change(
    connection: Connection, user_id: int, account_id: int, day: date, reason: str
) -> None:
    """`record_account_change` for an account whose owner is known (also once it is gone)."""
    table = mart_account_changes
    statement = dialect.insert(connection, table).values(
        account_id=account_id,
        user_id=user_id,
        earliest_changed_day=day,
        reason=reason[:200],
        changed_at=_changed_now(),
    )
    earlier = statement.excluded.earliest_changed_day <= table.c.earliest_changed_day
    statement = statement.on_conflict_do_update(
        index_elements=[table.c.account_id],
        set_={
            "earliest_changed_day": case(
                (earlier, statement.excluded.earliest_changed_day),
                else_=table.c.earliest_changed_day,
            ),
            "reason": case((earlier, statement.excluded.reason), else_=table.c.reason),
            "changed_at": statement.excluded.changed_at,
        },
    )
    connection.execute(statement)
    _record_user_change(connection, user_id, day, reason, accounts_only=True)


def _record_user_change(
    connection: Connection, user_id: int, day: date, reason: str, *, accounts_only: bool
) -> None:
    """The user's row: the earliest day (the user-level marts rebuild from it); whether it
    stands only for the accounts of `mart_account_changes` stays True only while every
    change folded into it was an account's."""
    table = mart_changes
    statement = dialect.insert(connection, table).values(
        user_id=user_id,
        earliest_changed_day=day,
        reason=reason[:200],
        changed_at=_changed_now(),
        accounts_only=accounts_only,
    )
    earlier = statement.excluded.earliest_changed_day <= table.c.earliest_changed_day
    updates: dict[str, Any] = {
        "earliest_changed_day": case(
            (earlier, statement.excluded.earliest_changed_day),
            else_=table.c.earliest_changed_day,
        ),
        "reason": case((earlier, statement.excluded.reason), else_=table.c.reason),
        "changed_at": statement.excluded.changed_at,
    }
    if not accounts_only:
        updates["accounts_only"] = False
    connection.execute(
        statement.on_conflict_do_update(index_elements=[table.c.user_id], set_=updates)
    )
