"""The pipeline's sync key pair (X25519) and data keys sealed to it, for unattended sync.

- `generate_key_pair` (`wealth keys init`) writes the private key to a file outside the
  database (WEALTH_SYNC_KEY_FILE, mode 0600 in a 0700 folder) and the public key beside
  it (same name, suffix ``.pub``). The key id is the SHA-256 of the raw public key (hex).
- `enable_auto_sync` (client side, with the user's password-unlocked data key) seals the
  data key to the public key into `sealed_data_keys` and sets `profiles.auto_sync_enabled`;
  `disable_auto_sync` deletes the sealed copy and clears the flag.
- Only the worker opens a sealed key (`worker.unlock_for_sync`), with the private key.

Sealed layout (version 1)::

    0x01 | ephemeral X25519 public key (32) | nonce (12) | AES-256-GCM(data key) + tag

The AES key is HKDF-SHA256 over the X25519 shared secret (salt: ephemeral public key ||
recipient public key; info names the user id and key id); the associated data binds the
version, user id and key id, so a sealed key copied to another user does not open.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import Connection, delete, insert, select, update

from wealth_pipeline.security.envelope import AAD_PREFIX, KEY_BYTES, NONCE_BYTES, TAG_BYTES
from wealth_pipeline.security.errors import VaultError
from wealth_pipeline.security.vault import PURPOSE_SEALED_DATA_KEY, Unlocked
from wealth_pipeline.warehouse.schema import profiles, sealed_data_keys

SEALED_VERSION = 1
PUBLIC_KEY_BYTES = 32
SEALED_BYTES = 1 + PUBLIC_KEY_BYTES + NONCE_BYTES + KEY_BYTES + TAG_BYTES
PRIVATE_KEY_MODE = 0o600
KEY_DIR_MODE = 0o700


@dataclass(frozen=True)
class SyncKeyInfo:
    """Where a sync key pair lives and its id (never the private key itself)."""

    private_key_path: Path
    public_key_path: Path
    key_id: str


def public_key_path(private_key_path: Path | str) -> Path:
    """The public key beside the private one: ``sync_key.pem`` -> ``sync_key.pub``."""
    return Path(private_key_path).with_suffix(".pub")


def _raw_public(public_key: X25519PublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(public_key: X25519PublicKey) -> str:
    """The key's id / fingerprint: SHA-256 of the raw 32-byte public key, 64 hex digits."""
    return hashlib.sha256(_raw_public(public_key)).hexdigest()


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):  # not every platform can open a directory
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _write_new_file(path: Path, data: bytes, mode: int) -> None:
    """Create `path` with `mode` from the start; fails if it exists (O_EXCL, no symlinks)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(path, flags, mode)
    try:
        os.fchmod(fd, mode)
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def _replace_file(path: Path, data: bytes, mode: int) -> None:
    """Atomically replace (or create) `path` through a private temporary file beside it."""
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    _write_new_file(temporary, data, mode)
    try:
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def _ensure_key_dir(directory: Path) -> None:
    if not directory.exists():
        directory.mkdir(parents=True, mode=KEY_DIR_MODE)
        os.chmod(directory, KEY_DIR_MODE)  # mkdir's mode is filtered by the umask


def generate_key_pair(private_key_path: Path | str, *, force: bool = False) -> SyncKeyInfo:
    """Create the sync key pair; refuses to replace an existing private key unless `force`.

    The private key (PKCS#8 PEM, unencrypted: the file's permissions protect it) is created
    with mode 0600 from the start; a new parent folder gets 0700. Replacing a key (force)
    strands every data key sealed to the old one: those users must enable auto-sync again.
    """
    path = Path(private_key_path).expanduser().absolute()
    _ensure_key_dir(path.parent)
    private_key = X25519PrivateKey.generate()
    private_pem = private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public_key = private_key.public_key()
    public_pem = public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    if force:
        _replace_file(path, private_pem, PRIVATE_KEY_MODE)
    else:
        try:
            _write_new_file(path, private_pem, PRIVATE_KEY_MODE)
        except FileExistsError:
            raise VaultError(
                f"a sync key already exists at {path}; pass --force to replace it "
                "(users with auto-sync would then have to enable it again)"
            ) from None
    pub_path = public_key_path(path)
    _replace_file(pub_path, public_pem, 0o644)
    _fsync_dir(path.parent)
    return SyncKeyInfo(private_key_path=path, public_key_path=pub_path, key_id=key_id(public_key))


def load_public_key(path: Path | str) -> X25519PublicKey:
    """The sync public key from its ``.pub`` file (or from beside the private key path)."""
    path = Path(path)
    if path.suffix != ".pub":
        path = public_key_path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise VaultError(
            f"no sync public key at {path}: run `wealth keys init` (where the pipeline runs) first"
        ) from None
    try:
        key = serialization.load_pem_public_key(data)
    except ValueError:
        raise VaultError(f"{path} is not a PEM public key") from None
    if not isinstance(key, X25519PublicKey):
        raise VaultError(f"{path} is not an X25519 public key")
    return key


def load_private_key(path: Path | str) -> X25519PrivateKey:
    """The sync private key. Only the pipeline worker calls this."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise VaultError(f"no sync private key at {path}: run `wealth keys init` first") from None
    except PermissionError:
        raise VaultError(f"cannot read the sync private key at {path}: permission denied") from None
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        raise VaultError(f"{path} is not an unencrypted PEM private key") from None
    if not isinstance(key, X25519PrivateKey):
        raise VaultError(f"{path} is not an X25519 private key")
    return key


def _context(user_id: int, recipient_id: str) -> bytes:
    if not isinstance(user_id, int) or isinstance(user_id, bool) or user_id < 1:
        raise VaultError(f"user_id must be a positive whole number, not {user_id!r}")
    return b"%s|user=%d|key=%s|purpose=%s" % (
        AAD_PREFIX,
        user_id,
        recipient_id.encode(),
        PURPOSE_SEALED_DATA_KEY.encode(),
    )


def _wrapping_key(shared: bytes, ephemeral: bytes, recipient: bytes, context: bytes) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(), length=KEY_BYTES, salt=ephemeral + recipient, info=context
    ).derive(shared)


def seal_data_key(data_key: bytes, public_key: X25519PublicKey, user_id: int) -> bytes:
    """Seal `data_key` to the sync public key, bound to `user_id` and the key's id."""
    if not isinstance(data_key, bytes) or len(data_key) != KEY_BYTES:
        raise VaultError("a data key is 32 bytes")
    context = _context(user_id, key_id(public_key))
    ephemeral = X25519PrivateKey.generate()
    ephemeral_raw = _raw_public(ephemeral.public_key())
    shared = ephemeral.exchange(public_key)
    key = _wrapping_key(shared, ephemeral_raw, _raw_public(public_key), context)
    version = bytes([SEALED_VERSION])
    nonce = os.urandom(NONCE_BYTES)
    return version + ephemeral_raw + nonce + AESGCM(key).encrypt(nonce, data_key, version + context)


def open_sealed_data_key(sealed: bytes, private_key: X25519PrivateKey, user_id: int) -> bytes:
    """The data key from `seal_data_key` output; VaultError for another key, user or a change."""
    if not isinstance(sealed, bytes | bytearray | memoryview):
        raise VaultError("sealed data key is missing")
    sealed = bytes(sealed)
    if len(sealed) != SEALED_BYTES:
        raise VaultError("sealed data key is truncated or not a sealed key")
    if sealed[0] != SEALED_VERSION:
        raise VaultError(f"sealed data key has unknown version {sealed[0]}")
    public_key = private_key.public_key()
    context = _context(user_id, key_id(public_key))
    ephemeral_raw = sealed[1 : 1 + PUBLIC_KEY_BYTES]
    nonce = sealed[1 + PUBLIC_KEY_BYTES : 1 + PUBLIC_KEY_BYTES + NONCE_BYTES]
    ciphertext = sealed[1 + PUBLIC_KEY_BYTES + NONCE_BYTES :]
    failure = VaultError(
        "sealed data key does not open: sealed to another sync key, "
        "for another user, or tampered with"
    )
    try:
        shared = private_key.exchange(X25519PublicKey.from_public_bytes(ephemeral_raw))
        key = _wrapping_key(shared, ephemeral_raw, _raw_public(public_key), context)
        return AESGCM(key).decrypt(nonce, ciphertext, sealed[:1] + context)
    except (InvalidTag, ValueError):
        raise failure from None


def enable_auto_sync(
    connection: Connection, unlocked: Unlocked, public_key: X25519PublicKey
) -> str:
    """Seal the user's data key to the sync key and switch auto-sync on; the key id.

    Enabling again (e.g. after `wealth keys init --force`) replaces the sealed copy.
    """
    if not isinstance(unlocked, Unlocked):
        raise VaultError("an Unlocked user is needed: enabling auto-sync needs the password")
    recipient_id = key_id(public_key)
    sealed = seal_data_key(unlocked.data_key, public_key, unlocked.user_id)
    values = {"sync_key_id": recipient_id, "sealed_key": sealed}
    exists = connection.execute(
        select(sealed_data_keys.c.user_id).where(sealed_data_keys.c.user_id == unlocked.user_id)
    ).first()
    if exists:
        connection.execute(
            update(sealed_data_keys)
            .where(sealed_data_keys.c.user_id == unlocked.user_id)
            .values(**values)
        )
    else:
        connection.execute(insert(sealed_data_keys).values(user_id=unlocked.user_id, **values))
    connection.execute(
        update(profiles)
        .where(profiles.c.user_id == unlocked.user_id)
        .values(auto_sync_enabled=True)
    )
    return recipient_id


def disable_auto_sync(connection: Connection, user_id: int) -> bool:
    """Delete the sealed data key and switch auto-sync off; whether a sealed copy existed.

    Needs no password: it only takes access away.
    """
    deleted = connection.execute(
        delete(sealed_data_keys).where(sealed_data_keys.c.user_id == user_id)
    ).rowcount
    connection.execute(
        update(profiles).where(profiles.c.user_id == user_id).values(auto_sync_enabled=False)
    )
    return bool(deleted)
