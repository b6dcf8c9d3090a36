"""One way to open an account's connection to its broker.

The daily sync, the history backfill, `wealth accounts test` and `wealth accounts auth` all
need the same steps: load the account and its broker, unlock the owner's data key (the
worker's sealed copy, or the password at the command line), decrypt the credentials and the
saved session state, build the integration with the broker's base URL (the catalogue's, or
`WEALTH_BROKER_URL_<CODE>`), know every secret value so messages can be scrubbed, and
afterwards encrypt the state worth keeping. `open_account` does them; `AccountConnection`
carries the result.

Nothing here writes: callers store `session_blobs()` in the same transaction as the data
they write (`save_sessions`), so a failed write never leaves half a state behind.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any

from sqlalchemy import Connection, Engine, and_, func, select

from wealth_pipeline.brokers.base import (
    AuthResult,
    BrokerConfig,
    BrokerIntegrationBase,
    IntegrationContext,
    context_from_settings,
)
from wealth_pipeline.brokers.catalogue import secret_fields
from wealth_pipeline.brokers.redact import scrub
from wealth_pipeline.brokers.registry import build_integration
from wealth_pipeline.security.errors import VaultError
from wealth_pipeline.security.vault import (
    Unlocked,
    decrypt_credentials,
    decrypt_state,
    encrypt_state,
)
from wealth_pipeline.warehouse import dialect
from wealth_pipeline.warehouse.engine import reader
from wealth_pipeline.warehouse.schema import (
    account_sessions,
    account_snapshots,
    brokers,
    financial_accounts,
    users,
)

log = logging.getLogger(__name__)

CLIENT_STATE = "client_state"  # the integration's export_state(), kept between runs
TAN_DIALOG = "tan_dialog"  # a login paused for a person (AuthResult.session_data)

Unlock = Callable[[Connection, int], Unlocked]  # (connection, user_id) -> the owner's data key


class OpenFailed(Exception):
    """The account's connection cannot be opened; the message says why (never a secret)."""


def broker_config(broker: Mapping[str, Any], urls: Mapping[str, str] | None = None) -> BrokerConfig:
    """The catalogue row as an integration's config, with its base URL overridden when
    `urls` (`Settings.broker_urls`) names the broker: FinTS banks' server, others' API."""
    config = BrokerConfig.from_row(broker)
    url = (urls or {}).get(config.code)
    if not url:
        return config
    if config.integration_type == "fints":
        return replace(config, fints_server=url)
    return replace(config, api_base_url=url)


def sync_command(account_id: int, username: str) -> str:
    """The one command that syncs an account now, with its owner there for the login."""
    return f"wealth accounts auth {account_id} --user {username}"


@dataclass
class AccountConnection:
    """An account opened for talking to its broker (see `open_account`)."""

    account_id: int
    user_id: int
    username: str
    name: str
    identifier: str
    broker: Mapping[str, Any]
    integration: BrokerIntegrationBase
    unlocked: Unlocked | None = field(repr=False)
    secrets: list[str] = field(repr=False)
    last_data: date | None = None  # the newest snapshot's day
    paused: AuthResult | None = field(default=None, repr=False)  # a login waiting for a person
    _kept: list[bytes | None] = field(default_factory=list, repr=False)  # state at close

    def __enter__(self) -> AccountConnection:
        """The integration's session, its state kept when it ends (before `close`, which
        may drop what a later run would reuse, like a live session's cookies)."""
        self.integration.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        try:
            self._kept[:] = [self._export()]
        finally:
            self.integration.__exit__(*exc)

    def _export(self) -> bytes | None:
        try:
            return self.integration.export_state()
        except Exception:  # keeping state is a bonus: never mask the caller's own outcome
            log.warning("account %s: session state could not be exported", self.account_id)
            return None

    @property
    def broker_code(self) -> str:
        return str(self.broker["code"])

    @property
    def broker_name(self) -> str:
        return str(self.broker["name"])

    @property
    def sync_mode(self) -> str:
        return str(self.broker.get("sync_mode") or "unattended")

    @property
    def context(self) -> IntegrationContext:
        return self.integration.context

    @property
    def command(self) -> str:
        return sync_command(self.account_id, self.username)

    def scrub(self, text: str) -> str:
        """`text` without any credential value or code a person typed."""
        return scrub(text, self.secrets)

    def remember(self, *values: str) -> None:
        """Codes a person typed (TANs, SMS codes, tokens): scrubbed from messages too."""
        self.secrets.extend(v for v in values if v)

    def session_blobs(self, paused: AuthResult | None = None) -> dict[str, bytes]:
        """The integration's state (as it was when `with conn:` ended, or now), and a login
        `paused` for a person, encrypted to store (nothing without a key: credential-free
        brokers keep no state)."""
        if self.unlocked is None:
            return {}
        blobs: dict[str, bytes] = {}
        state = self._kept[0] if self._kept else self._export()
        if state:
            blobs[CLIENT_STATE] = encrypt_state(self.unlocked, self.account_id, CLIENT_STATE, state)
        if paused is not None and paused.session_data:
            blobs[TAN_DIALOG] = encrypt_state(
                self.unlocked, self.account_id, TAN_DIALOG, paused.session_data
            )
        return blobs


def save_sessions(connection: Connection, account_id: int, blobs: Mapping[str, bytes]) -> None:
    """Store encrypted session blobs in the caller's transaction."""
    for purpose, blob in blobs.items():
        save_session(connection, account_id, purpose, blob)


def open_account(
    engine: Engine,
    account_id: int,
    *,
    unlock: Unlock | Unlocked | None,
    settings: Any = None,
    today: date | None = None,
    user_id: int | None = None,
    with_paused: bool = False,
) -> AccountConnection:
    """Open `account_id` (of `user_id`, when given: another user's account is "no such
    account"): its integration built and ready to log in.

    `unlock` gives the owner's data key, asked only when the account holds credentials or
    saved state: the worker's `security.worker.unlock_for_sync`, a callable asking for the
    password, or an `Unlocked` already at hand. `settings` (`settings.Settings`) gives
    timeouts, retries, the FinTS product id and broker URLs; `today` is the integration's
    clock. `with_paused` also restores a login paused for a person (`wealth accounts auth`).
    Raises OpenFailed.
    """
    with reader(engine).connect() as connection:
        row = connection.execute(
            select(
                financial_accounts.c.user_id,
                users.c.username,
                financial_accounts.c.name.label("account_name"),
                financial_accounts.c.account_identifier,
                financial_accounts.c.encrypted_credentials,
                *brokers.c,
            )
            .join(brokers, brokers.c.id == financial_accounts.c.broker_id)
            .join(users, users.c.id == financial_accounts.c.user_id)
            .where(financial_accounts.c.id == account_id)
        ).first()
        if row is None or (user_id is not None and row.user_id != user_id):
            raise OpenFailed(f"no such account: {account_id}")
        broker = {column.name: row._mapping[column.name] for column in brokers.c}
        stored_state = load_session(connection, account_id, CLIENT_STATE)
        dialog_blob = load_session(connection, account_id, TAN_DIALOG) if with_paused else None
        challenge = _challenge(connection, account_id) if dialog_blob is not None else {}
        last_data = connection.execute(
            select(func.max(account_snapshots.c.snapshot_date)).where(
                account_snapshots.c.account_id == account_id
            )
        ).scalar()
        unlocked = None
        if row.encrypted_credentials is not None or stored_state or dialog_blob:
            unlocked = _unlocked(connection, unlock, row.user_id, account_id)
    credentials: dict[str, Any] = {}
    state = dialog = None
    try:
        if row.encrypted_credentials is not None:
            assert unlocked is not None
            credentials = decrypt_credentials(
                unlocked, account_id, bytes(row.encrypted_credentials)
            )
    except VaultError as exc:
        raise OpenFailed(f"cannot open the credentials of account {account_id}: {exc}") from None
    if unlocked is not None:
        state = _decrypted(unlocked, account_id, CLIENT_STATE, stored_state)
        dialog = _decrypted(unlocked, account_id, TAN_DIALOG, dialog_blob)
    context = context_from_settings(settings, state=state) if settings else IntegrationContext()
    context = replace(context, state=state, today=today or context.today)
    try:
        integration = build_integration(
            broker_config(broker, getattr(settings, "broker_urls", None)), credentials, context
        )
    except LookupError as exc:
        raise OpenFailed(str(exc)) from None
    names = set(secret_fields(broker["credential_schema"] or {})) | set(integration.secret_fields)
    paused = None
    if dialog is not None:
        paused = AuthResult(
            success=False,
            requires_2fa=True,
            two_fa_type=challenge.get("two_fa_type") or "tan",
            session_data=dialog,
            challenge_data={k: v for k, v in challenge.items() if k != "two_fa_type"} or None,
        )
    return AccountConnection(
        account_id=account_id,
        user_id=row.user_id,
        username=row.username,
        name=row.account_name,
        identifier=row.account_identifier,
        broker=broker,
        integration=integration,
        unlocked=unlocked,
        secrets=[str(credentials[name]) for name in sorted(names) if credentials.get(name)],
        last_data=last_data,
        paused=paused,
    )


def _unlocked(
    connection: Connection, unlock: Unlock | Unlocked | None, user_id: int, account_id: int
) -> Unlocked:
    if unlock is None:
        raise OpenFailed(f"account {account_id} holds credentials: its owner's key is needed")
    try:
        unlocked = unlock if isinstance(unlock, Unlocked) else unlock(connection, user_id)
    except VaultError as exc:
        raise OpenFailed(f"cannot open the credentials of account {account_id}: {exc}") from None
    if unlocked.user_id != user_id:
        raise OpenFailed(f"the key given is not the owner's of account {account_id}")
    return unlocked


def _decrypted(
    unlocked: Unlocked, account_id: int, purpose: str, blob: bytes | None
) -> bytes | None:
    """Saved state, or None when unreadable (a fresh login follows; never a failure)."""
    if blob is None:
        return None
    try:
        return decrypt_state(unlocked, account_id, purpose, blob)
    except VaultError:
        log.warning("account %s: stored %s unreadable; starting afresh", account_id, purpose)
        return None


def _challenge(connection: Connection, account_id: int) -> dict[str, Any]:
    saved = connection.execute(
        select(account_sessions.c.challenge).where(
            and_(
                account_sessions.c.account_id == account_id,
                account_sessions.c.purpose == TAN_DIALOG,
            )
        )
    ).scalar()
    return dict(saved or {})


# --- broker session state -----------------------------------------------------------------


def load_session(connection: Connection, account_id: int, purpose: str) -> bytes | None:
    """The account's encrypted session state for `purpose` (as the vault sealed it), if any."""
    blob = connection.execute(
        select(account_sessions.c.encrypted_state).where(
            and_(account_sessions.c.account_id == account_id, account_sessions.c.purpose == purpose)
        )
    ).scalar()
    return None if blob is None else bytes(blob)


def save_session(connection: Connection, account_id: int, purpose: str, blob: bytes) -> None:
    """Store (insert or replace) the account's encrypted session state for `purpose`."""
    statement = dialect.insert(connection, account_sessions).values(
        account_id=account_id, purpose=purpose, encrypted_state=blob
    )
    connection.execute(
        statement.on_conflict_do_update(
            index_elements=[account_sessions.c.account_id, account_sessions.c.purpose],
            set_={"encrypted_state": statement.excluded.encrypted_state, "updated_at": func.now()},
        )
    )
