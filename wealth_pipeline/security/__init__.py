"""The credential vault: password-derived keys, sealed credentials, unattended-sync keys.

- `kdf`: Argon2id key derivation (KEK and auth hash) and the server-side auth-hash hash.
- `envelope`: AES-256-GCM blobs bound to owner and purpose.
- `vault`: users, unlocking, password change, credentials and session state (the API
  and the CLI use this).
- `sync_keys`: the pipeline's X25519 key pair and data keys sealed to it.
- `worker`: unlocking with the sync private key; for the pipeline worker only, never the API.
"""

from wealth_pipeline.security.errors import VaultError
from wealth_pipeline.security.kdf import KdfParams
from wealth_pipeline.security.vault import Unlocked

__all__ = ["KdfParams", "Unlocked", "VaultError"]
