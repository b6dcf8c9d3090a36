"""Shared by the security tests: credentials that must never leak."""

from __future__ import annotations

CREDENTIALS = {
    "username": "bank-login-4711",
    "pin": "pin-98765-secret",
    "totp_secret": "JBSWY3DPEHPK",
}
