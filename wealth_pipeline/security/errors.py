"""The one error the vault raises: its message is safe to show (no keys, no plaintext)."""

from __future__ import annotations


class VaultError(Exception):
    """A wrong password, a tampered or misplaced blob, a missing key, an unknown user.

    Messages name what failed and what to do, never key material, passwords or plaintext.
    The operation that raised it changed nothing it wrote itself (roll back the caller's
    transaction to undo the caller's own writes).
    """
