"""Shared by the security tests: cheap Argon2 parameters through explicit configuration.

Production never lowers them; tests do, explicitly, so the suite stays fast.
"""

from __future__ import annotations

import pytest
from sqlalchemy import Connection, insert, select

from wealth_pipeline.security.kdf import KdfParams
from wealth_pipeline.warehouse.schema import brokers, financial_accounts

CHEAP = KdfParams(time_cost=1, memory_kib=1024, parallelism=1)


@pytest.fixture
def cheap_argon2(monkeypatch: pytest.MonkeyPatch) -> KdfParams:
    """WEALTH_ARGON2_* lowered for this test (what `KdfParams.from_settings()` then reads)."""
    monkeypatch.setenv("WEALTH_ARGON2_TIME_COST", "1")
    monkeypatch.setenv("WEALTH_ARGON2_MEMORY_KIB", "1024")
    monkeypatch.setenv("WEALTH_ARGON2_PARALLELISM", "1")
    return CHEAP


CREDENTIALS = {
    "username": "bank-login-4711",
    "pin": "pin-98765-secret",
    "totp_secret": "JBSWY3DPEHPK",
}


def add_account(connection: Connection, user_id: int, name: str = "Giro") -> int:
    """A bare financial account (and its broker) straight through the schema."""
    broker_id = connection.execute(select(brokers.c.id).where(brokers.c.code == "dkb")).scalar()
    if broker_id is None:
        broker_id = connection.execute(
            insert(brokers).values(
                code="dkb", name="DKB", integration_type="fints", credential_schema={}
            )
        ).inserted_primary_key[0]
    return connection.execute(
        insert(financial_accounts).values(
            user_id=user_id, broker_id=broker_id, name=name, currency="EUR"
        )
    ).inserted_primary_key[0]
