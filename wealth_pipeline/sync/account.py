"""One account-day: log in, fetch balance and positions, write everything in one transaction.

Every failure becomes a sync state with a reason a person can read; nothing here raises for
a broker's failure, so one account never fails the others. Secrets stay out of reasons and
logs: messages are scrubbed of the account's secret credential values.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Engine, and_, delete, func, insert, select, update

from wealth_pipeline import money
from wealth_pipeline.accounts import load_session, save_session
from wealth_pipeline.brokers.base import (
    AuthenticationFailed,
    AuthResult,
    BalanceInfo,
    BrokerError,
    BrokerIntegrationBase,
    NoNewData,
    PositionInfo,
    TwoFactorRequired,
    context_from_settings,
)
from wealth_pipeline.brokers.catalogue import get_broker, secret_fields
from wealth_pipeline.brokers.registry import build_integration
from wealth_pipeline.flows.sync import FetchedFlows, fetch_flows, sync_window, write_fetched
from wealth_pipeline.security.errors import VaultError
from wealth_pipeline.security.vault import (
    Unlocked,
    decrypt_credentials,
    decrypt_state,
    encrypt_state,
)
from wealth_pipeline.settings import Settings
from wealth_pipeline.snapshots.store import NewPosition, NewSnapshot, write_snapshots
from wealth_pipeline.sync.due import AUTH_FAILED, DueAccount
from wealth_pipeline.warehouse.schema import (
    account_sessions,
    account_snapshots,
    account_sync_state,
    financial_accounts,
)

log = logging.getLogger(__name__)

CLIENT_STATE = "client_state"  # the integration's export_state(), kept between runs
TAN_DIALOG = "tan_dialog"  # a login paused for a person (AuthResult.session_data)


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


def reader(engine: Engine) -> Engine:
    """An engine for reads: on SQLite one that does not take the write lock (WAL readers)."""
    if engine.dialect.name != "sqlite":
        return engine
    from wealth_pipeline.warehouse.engine import get_engine

    return get_engine(engine.url.render_as_string(hide_password=False), readonly=True)


def auth_command(account_id: int, username: str) -> str:
    return f"wealth accounts auth {account_id} --user {username}"


def scrub(text: str, secrets: Sequence[str]) -> str:
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, "[redacted]")
    return text


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
        raise Paused(f"{integration.broker.name} asks for a second factor", auth)
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
            "last_synced_at": datetime.now(ZoneInfo("UTC")),
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
    for purpose, blob in (session_blobs or {}).items():
        save_session(connection, due.account_id, purpose, blob)
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
    for purpose, blob in (session_blobs or {}).items():
        save_session(connection, due.account_id, purpose, blob)
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
    unlock: Callable[[Connection, int], Unlocked] | None = None,
) -> Outcome:
    """Sync one account for `day`; never raises for the account's own failures."""
    lock = write_lock or nullcontext()
    secrets: list[str] = []
    blobs: dict[str, bytes] = {}
    unlocked: Unlocked | None = None
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
        with reader(engine).connect() as connection:
            account = connection.execute(
                select(financial_accounts.c.encrypted_credentials).where(
                    financial_accounts.c.id == due.account_id
                )
            ).one()
            broker = get_broker(connection, due.broker_code)
            stored_state = load_session(connection, due.account_id, CLIENT_STATE)
            credentials: dict[str, Any] = {}
            state = None
            if account.encrypted_credentials is not None or stored_state is not None:
                unlocked = _unlock(connection, due, key_file, unlock)
            if account.encrypted_credentials is not None:
                assert unlocked is not None
                credentials = decrypt_credentials(
                    unlocked, due.account_id, bytes(account.encrypted_credentials)
                )
            if stored_state is not None and unlocked is not None:
                try:
                    state = decrypt_state(unlocked, due.account_id, CLIENT_STATE, stored_state)
                except VaultError:
                    log.warning(
                        "account %s: stored client state unreadable; starting afresh",
                        due.account_id,
                    )
        assert broker is not None  # the account's foreign key guarantees it
        names = set(secret_fields(broker["credential_schema"] or {}))
        context = replace(context_from_settings(settings, state=state), today=day)
        integration = build_integration(broker, credentials, context)
        names |= set(integration.secret_fields)
        secrets = [str(credentials[name]) for name in names if credentials.get(name)]
        try:
            with integration:
                fetched = fetch(integration, due.identifier)
        finally:
            blobs = _exported(integration, unlocked, due.account_id)
        with lock, engine.begin() as writing:
            return write_account_day(
                writing,
                due,
                day,
                fetched,
                run_id=run_id,
                secret_values=secrets,
                session_blobs=blobs,
            )
    except Paused as exc:
        return _pause(engine, due, day, exc, secrets, blobs, unlocked, run_id, lock)
    except AuthenticationFailed as exc:
        status = "pending_auth" if exc.needs_person else "error"
        reason = AUTH_FAILED + scrub(str(exc), secrets)
        outcome = Outcome(due.account_id, due.broker_code, status, reason)
    except NoNewData as exc:
        outcome = Outcome(due.account_id, due.broker_code, "no_new_data", scrub(str(exc), secrets))
    except BrokerError as exc:
        status = "pending_auth" if exc.needs_person else "error"
        retry = " (retried next attempt)" if exc.retryable else ""
        outcome = Outcome(due.account_id, due.broker_code, status, scrub(str(exc), secrets) + retry)
    except VaultError as exc:
        outcome = Outcome(
            due.account_id, due.broker_code, "error", f"cannot open credentials: {exc}"
        )
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
            due.account_id, due.broker_code, outcome.reason, auth_command(due.account_id, due.username),
        )  # fmt: skip
    with lock, engine.begin() as writing:
        record_outcome(writing, due, day, outcome, run_id=run_id, session_blobs=blobs)
    return outcome


def _unlock(
    connection: Connection,
    due: DueAccount,
    key_file: str | None,
    unlock: Callable[[Connection, int], Unlocked] | None,
) -> Unlocked:
    if unlock is not None:
        return unlock(connection, due.user_id)
    from wealth_pipeline.security.worker import unlock_for_sync

    return unlock_for_sync(connection, due.user_id, key_file)


def _exported(
    integration: BrokerIntegrationBase, unlocked: Unlocked | None, account_id: int
) -> dict[str, bytes]:
    """The integration's state to keep, encrypted (needs a key: credential-free brokers keep none)."""
    try:
        state = integration.export_state()
    except Exception:  # keeping state is a bonus: never mask the sync's own outcome
        log.warning("account %s: session state could not be exported", account_id)
        return {}
    if not state or unlocked is None:
        return {}
    return {CLIENT_STATE: encrypt_state(unlocked, account_id, CLIENT_STATE, state)}


def _pause(
    engine: Engine,
    due: DueAccount,
    day: date,
    exc: Paused,
    secrets: Sequence[str],
    blobs: dict[str, bytes],
    unlocked: Unlocked | None,
    run_id: str | None,
    lock: AbstractContextManager[Any],
) -> Outcome:
    """Keep the paused dialog encrypted, mark the account pending_auth, tell a person."""
    session_data = exc.auth.session_data if exc.auth is not None else None
    if session_data and unlocked is not None:
        blobs = {
            **blobs,
            TAN_DIALOG: encrypt_state(unlocked, due.account_id, TAN_DIALOG, session_data),
        }
    command = auth_command(due.account_id, due.username)
    reason = f"{scrub(str(exc), secrets)}; run `{command}`"
    outcome = Outcome(due.account_id, due.broker_code, "pending_auth", reason)
    log.warning(
        "account %s (%s) is waiting for a person: run `%s`",
        due.account_id,
        due.broker_code,
        command,
    )
    with lock, engine.begin() as writing:
        record_outcome(
            writing, due, day, outcome, run_id=run_id, session_blobs=blobs,
            challenge=_challenge(exc.auth, secrets),
        )  # fmt: skip
    return outcome
