"""One account-day: log in, fetch balance and positions, write everything in one transaction.

Every failure becomes a sync state with a reason a person can read; nothing here raises for
a broker's failure, so one account never fails the others. Secrets stay out of reasons and
logs: messages are scrubbed of the account's secret credential values.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

from sqlalchemy import Connection, Engine, and_, delete, func, insert, select, update

from wealth_pipeline import clock, money
from wealth_pipeline.brokers.base import (
    AuthenticationFailed,
    AuthResult,
    BalanceInfo,
    BrokerError,
    BrokerIntegrationBase,
    NoNewData,
    PositionInfo,
    TwoFactorRequired,
)
from wealth_pipeline.brokers.connection import (
    TAN_DIALOG,
    AccountConnection,
    OpenFailed,
    Unlock,
    open_account,
    save_sessions,
    sync_command,
)
from wealth_pipeline.brokers.redact import scrub
from wealth_pipeline.flows.sync import FetchedFlows, fetch_flows, sync_window, write_fetched
from wealth_pipeline.security.vault import Unlocked
from wealth_pipeline.settings import Settings
from wealth_pipeline.snapshots.store import NewPosition, NewSnapshot, write_snapshots
from wealth_pipeline.sync.due import AUTH_FAILED, DueAccount
from wealth_pipeline.sync.waiting import assisted_why, waiting_reason
from wealth_pipeline.warehouse.engine import reader
from wealth_pipeline.warehouse.schema import (
    account_sessions,
    account_snapshots,
    account_sync_state,
    financial_accounts,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    """What the sync did for one account-day."""

    account_id: int
    broker_code: str
    status: str  # success, no_new_data, error, pending_auth, skipped
    reason: str | None = None
    rows: int = 0  # snapshots + positions written

    def describe(self) -> str:
        text = f"account {self.account_id} ({self.broker_code}): {self.status}"
        return f"{text}: {self.reason}" if self.reason else text


@dataclass(frozen=True)
class Fetched:
    balance: BalanceInfo
    positions: list[PositionInfo]
    flows: FetchedFlows | None = None  # the service's cash flows of the last days, if any


class Paused(Exception):
    """A person has to approve or enter a code; holds the dialog to resume."""

    def __init__(self, message: str, auth: AuthResult | None) -> None:
        super().__init__(message)
        self.auth = auth


def to_snapshot(day: date, fetched: Fetched) -> NewSnapshot:
    """The account-day as the store writes it; amounts rounded half-even where produced."""
    balance = fetched.balance
    raw = dict(balance.raw_data or {})
    if balance.balance_date != day:
        raw.setdefault("balance_date", balance.balance_date.isoformat())
    return NewSnapshot(
        day=day,
        balance=money.quantize(balance.balance, money.AMOUNT_PLACES),
        currency=balance.currency,
        available_balance=None
        if balance.available_balance is None
        else money.quantize(balance.available_balance, money.AMOUNT_PLACES),
        raw_data=raw or None,
        positions=[
            NewPosition(
                symbol=p.symbol,
                name=p.name,
                quantity=p.quantity,
                price_per_unit=p.price_per_unit,
                market_value=money.quantize(p.market_value, money.AMOUNT_PLACES),
                currency=p.currency,
                isin=p.isin,
                cost_basis=None
                if p.cost_basis is None
                else money.quantize(p.cost_basis, money.AMOUNT_PLACES),
                asset_class=p.asset_class,
            )
            for p in fetched.positions
        ],
    )


def existing_source(connection: Connection, account_id: int, day: date) -> str | None:
    return connection.execute(
        select(account_snapshots.c.snapshot_source).where(
            and_(
                account_snapshots.c.account_id == account_id,
                account_snapshots.c.snapshot_date == day,
            )
        )
    ).scalar()


def not_overwritten(source: str, day: date) -> str:
    return f"a {source} snapshot exists for {day.isoformat()}; a sync never overwrites it"


def fetch(integration: BrokerIntegrationBase, identifier: str) -> Fetched:
    """Log in and read the account; a login that needs a person raises `Paused`."""
    try:
        auth = integration.authenticate()
    except TwoFactorRequired as exc:
        raise Paused(str(exc), exc.auth) from None
    if auth.requires_2fa and not auth.success:
        why = auth.error_message or f"{integration.broker.name} asks for a second factor"
        raise Paused(integration.scrub(why), auth)
    if not auth.success:
        raise AuthenticationFailed(integration.scrub(auth.error_message or "login refused"))
    return read_account(integration, identifier)


def read_account(integration: BrokerIntegrationBase, identifier: str) -> Fetched:
    try:
        balance = integration.get_balance(identifier)
        positions = integration.get_positions(identifier)
        flows = fetch_flows(
            integration, identifier, *sync_window(integration.context.current_day())
        )
    except TwoFactorRequired as exc:
        raise Paused(str(exc), exc.auth) from None
    return Fetched(balance, positions, flows)


def drop_session(connection: Connection, account_id: int, purpose: str) -> None:
    connection.execute(
        delete(account_sessions).where(
            and_(account_sessions.c.account_id == account_id, account_sessions.c.purpose == purpose)
        )
    )


def record_state(
    connection: Connection,
    account_id: int,
    day: date,
    *,
    status: str,
    reason: str | None,
    run_id: str | None,
) -> None:
    """Insert or update the account-day's sync state (attempts counted)."""
    state = account_sync_state
    key = and_(state.c.account_id == account_id, state.c.sync_date == day)
    values = {
        "status": status,
        "reason": reason,
        "run_id": run_id,
        "finished_at": func.now(),
    }
    if connection.execute(select(state.c.attempts).where(key)).first() is None:
        connection.execute(
            insert(state).values(account_id=account_id, sync_date=day, attempts=1, **values)
        )
    else:
        connection.execute(update(state).where(key).values(attempts=state.c.attempts + 1, **values))


def record_account_status(
    connection: Connection, account_id: int, status: str, reason: str | None
) -> None:
    """Mirror the outcome on the account: what `wealth accounts list` and the UI show."""
    if status in ("success", "no_new_data"):
        values: dict[str, Any] = {
            "status": "active",
            "status_message": reason,
            "last_synced_at": clock.now(),
        }
    elif status in ("error", "pending_auth"):
        values = {"status": status, "status_message": reason}
    else:
        return
    connection.execute(
        update(financial_accounts).where(financial_accounts.c.id == account_id).values(**values)
    )


def write_account_day(
    connection: Connection,
    due: DueAccount,
    day: date,
    fetched: Fetched,
    *,
    run_id: str | None,
    secret_values: Sequence[str] = (),
    session_blobs: Mapping[str, bytes] | None = None,
) -> Outcome:
    """Snapshot, positions, session state, sync state and account status: the caller's one
    transaction. An AUTO snapshot of the day is replaced; a manual or imported one never."""
    save_sessions(connection, due.account_id, session_blobs or {})
    source = existing_source(connection, due.account_id, day)
    if source is not None and source != "auto":
        outcome = Outcome(due.account_id, due.broker_code, "skipped", not_overwritten(source, day))
    else:
        snapshot = to_snapshot(day, fetched)
        write_snapshots(
            connection,
            due.account_id,
            [snapshot],
            source="auto",
            replace=True,
            secret_values=secret_values,
        )
        outcome = Outcome(
            due.account_id, due.broker_code, "success", rows=1 + len(snapshot.positions)
        )
    written = write_fetched(connection, due.account_id, fetched.flows, secrets=secret_values)
    if written is not None:
        outcome = replace(outcome, rows=outcome.rows + written.inserted + written.updated)
    record_state(
        connection, due.account_id, day, status=outcome.status, reason=outcome.reason, run_id=run_id
    )
    record_account_status(connection, due.account_id, outcome.status, outcome.reason)
    return outcome


def record_outcome(
    connection: Connection,
    due: DueAccount,
    day: date,
    outcome: Outcome,
    *,
    run_id: str | None,
    session_blobs: Mapping[str, bytes] | None = None,
    challenge: Mapping[str, Any] | None = None,
) -> None:
    """An outcome without a snapshot (error, pause, no new data, skip), in one transaction."""
    save_sessions(connection, due.account_id, session_blobs or {})
    if challenge is not None and TAN_DIALOG in (session_blobs or {}):
        connection.execute(
            update(account_sessions)
            .where(
                and_(
                    account_sessions.c.account_id == due.account_id,
                    account_sessions.c.purpose == TAN_DIALOG,
                )
            )
            .values(challenge=dict(challenge))
        )
    record_state(
        connection, due.account_id, day, status=outcome.status, reason=outcome.reason, run_id=run_id
    )
    record_account_status(connection, due.account_id, outcome.status, outcome.reason)


def _challenge(auth: AuthResult | None, secrets: Sequence[str]) -> dict[str, Any]:
    """What the person will be asked (type and text only: images are not kept)."""
    if auth is None:
        return {}
    data = auth.challenge_data or {}
    text = data.get("text") or data.get("challenge")
    found: dict[str, Any] = {"two_fa_type": auth.two_fa_type}
    if isinstance(text, str):
        found["text"] = scrub(text, secrets)[:500]
    options = data.get("options")
    if isinstance(options, list) and all(isinstance(o, str) for o in options):
        found["options"] = [scrub(o, secrets)[:200] for o in options[:20]]
    return found


def sync_account(
    engine: Engine,
    due: DueAccount,
    day: date,
    *,
    settings: Settings,
    run_id: str | None = None,
    key_file: str | None = None,
    write_lock: AbstractContextManager[Any] | None = None,
    unlock: Unlock | None = None,
) -> Outcome:
    """Sync one account for `day`; never raises for the account's own failures.

    An assisted account (a person needed at every fresh login) is never logged in here: a
    session still alive from its owner's last sync is reused, and otherwise the account
    waits for its owner (`pending_auth`, with its last data day and the command), which is
    not a failure.
    """
    lock = write_lock or nullcontext()
    conn: AccountConnection | None = None
    blobs: dict[str, bytes] = {}
    try:
        with reader(engine).connect() as connection:
            source = existing_source(connection, due.account_id, day)
        if source is not None and source != "auto":
            outcome = Outcome(
                due.account_id, due.broker_code, "skipped", not_overwritten(source, day)
            )
            with lock, engine.begin() as writing:
                record_outcome(writing, due, day, outcome, run_id=run_id)
            return outcome
        conn = open_account(
            engine,
            due.account_id,
            unlock=unlock or _worker_unlock(key_file),
            settings=settings,
            today=day,
        )
        try:
            with conn:
                if conn.sync_mode == "assisted":
                    fetched = resume_or_wait(conn)
                else:
                    fetched = fetch(conn.integration, due.identifier)
        finally:
            blobs = conn.session_blobs()
        with lock, engine.begin() as writing:
            return write_account_day(
                writing,
                due,
                day,
                fetched,
                run_id=run_id,
                secret_values=conn.secrets,
                session_blobs=blobs,
            )
    except Paused as exc:
        assert conn is not None
        return _pause(engine, due, day, exc, conn, blobs, run_id, lock)
    except BrokerError as exc:
        if exc.needs_person and conn is not None:  # only a person can go on: waiting
            auth = getattr(exc, "auth", None)
            paused = Paused(str(exc), auth if isinstance(auth, AuthResult) else None)
            return _pause(engine, due, day, paused, conn, blobs, run_id, lock)
        if isinstance(exc, AuthenticationFailed):
            reason = AUTH_FAILED + _scrub(conn, exc)
            outcome = Outcome(due.account_id, due.broker_code, "error", reason)
        elif isinstance(exc, NoNewData):
            outcome = Outcome(due.account_id, due.broker_code, "no_new_data", _scrub(conn, exc))
        else:
            retry = " (retried next attempt)" if exc.retryable else ""
            reason = _scrub(conn, exc) + retry
            outcome = Outcome(due.account_id, due.broker_code, "error", reason)
    except OpenFailed as exc:
        outcome = Outcome(due.account_id, due.broker_code, "error", str(exc))
    except Exception as exc:  # a bug, or the write failed: its text might hold a secret
        log.error("account %s: unexpected %s", due.account_id, type(exc).__name__)
        outcome = Outcome(
            due.account_id,
            due.broker_code,
            "error",
            f"unexpected failure ({type(exc).__name__}); nothing was written for this day",
        )
    if outcome.status == "pending_auth":
        log.warning(
            "account %s (%s) needs a person: %s; run `%s`",
            due.account_id, due.broker_code, outcome.reason, sync_command(due.account_id, due.username),
        )  # fmt: skip
    with lock, engine.begin() as writing:
        record_outcome(writing, due, day, outcome, run_id=run_id, session_blobs=blobs)
    return outcome


def resume_or_wait(conn: AccountConnection) -> Fetched:
    """An assisted account's day from the session its owner's last sync left alive, or
    `Paused` (waiting for the owner) when there is none: never a fresh login."""
    integration = conn.integration
    try:
        alive = integration.resume_session()
    except (AuthenticationFailed, TwoFactorRequired):
        alive = False  # a dead session: the account waits, its login has not failed
    if not alive:
        raise Paused(assisted_why(conn.broker_name, str(conn.broker.get("sync_note") or "")), None)
    return read_account(integration, conn.identifier)


def _scrub(conn: AccountConnection | None, exc: BaseException) -> str:
    return conn.scrub(str(exc)) if conn is not None else str(exc)


def _worker_unlock(key_file: str | None) -> Unlock:
    """The worker's unlock: the owner's data key sealed to the pipeline's sync key."""

    def unlock(connection: Connection, user_id: int) -> Unlocked:
        from wealth_pipeline.security.worker import unlock_for_sync

        return unlock_for_sync(connection, user_id, key_file)

    return unlock


def _pause(
    engine: Engine,
    due: DueAccount,
    day: date,
    exc: Paused,
    conn: AccountConnection,
    blobs: dict[str, bytes],
    run_id: str | None,
    lock: AbstractContextManager[Any],
) -> Outcome:
    """Keep the paused dialog encrypted, mark the account waiting (pending_auth) with its
    last data day and the command that syncs it now, tell a person."""
    if exc.auth is not None and exc.auth.session_data and conn.unlocked is not None:
        blobs = {**blobs, **conn.session_blobs(exc.auth)}
    reason = waiting_reason(conn.scrub(str(exc)), conn.last_data, conn.command)
    outcome = Outcome(due.account_id, due.broker_code, "pending_auth", reason)
    log.warning(
        "account %s (%s) is waiting for a person: run `%s`",
        due.account_id,
        due.broker_code,
        conn.command,
    )
    with lock, engine.begin() as writing:
        if exc.auth is None or not exc.auth.session_data:
            drop_session(writing, due.account_id, TAN_DIALOG)  # nothing to resume
        record_outcome(
            writing, due, day, outcome, run_id=run_id, session_blobs=blobs,
            challenge=_challenge(exc.auth, conn.secrets),
        )  # fmt: skip
    return outcome
