"""Worker only: open a user's data key with the pipeline's sync private key.

This module is for the Dagster pipeline worker that syncs accounts unattended. The API
(and anything it imports) must never import it: the API host never holds the sync private
key, which is what keeps the database plus the API host from decrypting credentials.
"""

from __future__ import annotations

import logging
import stat
from pathlib import Path

from sqlalchemy import Connection, select

from wealth_pipeline.security.errors import VaultError
from wealth_pipeline.security.sync_keys import key_id, load_private_key, open_sealed_data_key
from wealth_pipeline.security.vault import Unlocked
from wealth_pipeline.settings import load_settings
from wealth_pipeline.warehouse.schema import profiles, sealed_data_keys, users

log = logging.getLogger(__name__)


def unlock_for_sync(
    connection: Connection, user_id: int, private_key_path: Path | str | None = None
) -> Unlocked:
    """The user's data key, opened from its sealed copy with the worker's private key.

    `private_key_path` defaults to WEALTH_SYNC_KEY_FILE. Raises VaultError when the user
    is unknown or disabled, has auto-sync off or no sealed key, or when the sealed key was
    made for another sync key (re-enable auto-sync after `wealth keys init --force`).
    """
    path = Path(private_key_path or load_settings().sync_key_file)
    row = connection.execute(
        select(
            users.c.username,
            users.c.is_active,
            profiles.c.auto_sync_enabled,
            sealed_data_keys.c.sync_key_id,
            sealed_data_keys.c.sealed_key,
        )
        .select_from(users)
        .outerjoin(profiles, profiles.c.user_id == users.c.id)
        .outerjoin(sealed_data_keys, sealed_data_keys.c.user_id == users.c.id)
        .where(users.c.id == user_id)
    ).first()
    if row is None:
        raise VaultError(f"no user with id {user_id}")
    if not row.is_active:
        raise VaultError(f"user {row.username!r} is disabled")
    if not row.auto_sync_enabled:
        raise VaultError(
            f"auto-sync is off for {row.username!r}: syncing needs their password at the client"
        )
    if row.sealed_key is None:
        raise VaultError(
            f"auto-sync is on for {row.username!r} but no sealed data key exists: "
            f"run `wealth users set {row.username} --auto-sync` again"
        )
    _warn_if_exposed(path)
    private_key = load_private_key(path)
    worker_key_id = key_id(private_key.public_key())
    if row.sync_key_id != worker_key_id:
        raise VaultError(
            f"the data key of {row.username!r} is sealed to sync key {row.sync_key_id[:16]}…, "
            f"but this worker holds {worker_key_id[:16]}…: "
            f"run `wealth users set {row.username} --auto-sync` again"
        )
    data_key = open_sealed_data_key(row.sealed_key, private_key, user_id)
    return Unlocked(user_id=user_id, username=row.username, data_key=data_key)


def _warn_if_exposed(path: Path) -> None:
    try:
        mode = path.stat().st_mode
    except OSError:
        return  # load_private_key reports it
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning(
            "sync private key %s is accessible to other users (mode %o): chmod 600 it",
            path,
            stat.S_IMODE(mode),
        )
