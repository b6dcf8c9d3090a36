"""Raw broker data with the secrets taken out, fit to store in `raw_data` columns.

Broker responses can echo what was sent (a login body, a request URL with `?t=TOKEN`) or
carry session state (cookies, XSRF tokens, bearer tokens). `redact` removes, at any depth:
- keys named like one of the account's secret credential fields (`secret_keys`),
- keys that are secrets or session tokens by name (password, pin, token, cookie, jwt, ...),
and replaces any string that contains one of `secret_values` (the decrypted credentials
themselves) by REDACTED, wherever it appears.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from wealth_pipeline import money

REDACTED = "[redacted]"
# Whole key names (normalised: lowercase, without - and _) that are always secret.
SECRET_KEY_NAMES = frozenset(
    {
        "pin",
        "tan",
        "otp",
        "totp",
        "passcode",
        "pincode",
        "tancode",
        "otpcode",
        "authcode",
        "verificationcode",
        "credentials",
        "apikey",
    }
)
# Parts of key names that mark a secret or session state wherever they appear.
SECRET_KEY_PARTS = (
    "password",
    "passwd",
    "secret",
    "token",
    "cookie",
    "authorization",
    "jwt",
    "bearer",
    "xsrf",
    "csrf",
    "session",
    "privatekey",
)
_MIN_SECRET_VALUE = 4  # shorter values (e.g. a boolean's text) would scrub harmless data


def _normalise(key: str) -> str:
    return re.sub(r"[-_\s]", "", key).lower()


def is_secret_key(key: str, secret_keys: Iterable[str] = ()) -> bool:
    name = _normalise(key)
    if name in SECRET_KEY_NAMES or name in {_normalise(k) for k in secret_keys}:
        return True
    return any(part in name for part in SECRET_KEY_PARTS)


def redact(
    raw: Mapping[str, Any], secret_keys: Iterable[str] = (), *, secret_values: Iterable[str] = ()
) -> dict[str, Any]:
    """A copy of `raw` without secrets (the input is left unchanged)."""
    keys = frozenset(_normalise(k) for k in secret_keys)
    values = sorted(
        {v for v in secret_values if isinstance(v, str) and len(v) >= _MIN_SECRET_VALUE},
        key=len,
        reverse=True,
    )

    def clean(value: Any) -> Any:
        if isinstance(value, Mapping):
            return {str(k): clean(v) for k, v in value.items() if not is_secret_key(str(k), keys)}
        if isinstance(value, (list, tuple)):
            return [clean(item) for item in value]
        if isinstance(value, str) and any(secret in value for secret in values):
            return REDACTED
        return value

    return clean(raw)


def scrub(text: str, secrets: Iterable[str]) -> str:
    """`text` with every secret value in it replaced by REDACTED (longest first, so a secret
    containing another is replaced whole): for messages built from a service's answers or
    from codes a person typed."""
    for secret in sorted({s for s in secrets if isinstance(s, str) and s}, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return text


def storable(
    raw: Mapping[str, Any] | None,
    secret_keys: Iterable[str] = (),
    *,
    secret_values: Iterable[str] = (),
) -> Any:
    """Raw service data as a JSON column keeps it: redacted, Decimals and dates as strings
    (exact), so every writer stores the same shape and no Decimal reaches the JSON encoder."""
    if raw is None:
        return None
    cleaned = redact(raw, secret_keys, secret_values=secret_values)
    return json.loads(json.dumps(cleaned, default=money.json_default))
