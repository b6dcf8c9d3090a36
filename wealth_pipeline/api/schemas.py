"""The shapes the API answers, for the OpenAPI document (money as strings, dates ISO).

Handlers build their bodies directly (`body.py`); these models only document them and
validate request bodies.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

Money = str  # an exact decimal as a string, e.g. "1234.5600"


class Problem(BaseModel):
    detail: str | list[dict[str, Any]]


# --- auth -------------------------------------------------------------------------------


class Salts(BaseModel):
    auth_salt: str = Field(description="hex; Argon2id salt for the auth_hash")
    kek_salt: str = Field(description="hex; Argon2id salt for the key-encryption key")
    kdf_params: dict[str, Any] = Field(description="Argon2id parameters for both derivations")


class LoginRequest(BaseModel):
    username: str = Field(min_length=1, max_length=150)
    auth_hash: str = Field(
        min_length=1,
        max_length=200,
        description="base64 of the 32-byte Argon2id(password, auth_salt)",
    )


class RefreshRequest(BaseModel):
    refresh: str = Field(min_length=1, max_length=4096)


class UserOut(BaseModel):
    id: int
    username: str
    email: str | None
    base_currency: str


class EncryptedUserKey(BaseModel):
    wrapped_data_key: str = Field(description="base64 AES-256-GCM envelope of the data key")
    kek_salt: str
    kdf_params: dict[str, Any]
    associated_data: str = Field(description="base64 of the envelope's associated data")


class TokenPairOut(BaseModel):
    access: str
    refresh: str
    token_type: Literal["Bearer"]
    expires_in: int = Field(description="seconds the access token is valid")


class LoginOut(TokenPairOut):
    user: UserOut
    encrypted_user_key: EncryptedUserKey


# --- profile, brokers, accounts -----------------------------------------------------------


class ProfileOut(BaseModel):
    username: str
    email: str | None
    base_currency: str
    auto_sync_enabled: bool
    sync_frequency_hours: int
    monthly_aggregation: Literal["last", "min", "max", "avg"]
    weekly_report_enabled: bool
    report_email: str | None


class BrokerOut(BaseModel):
    code: str
    name: str
    integration_type: str
    country: str
    default_currency: str = Field(
        description="the usual currency of its accounts; empty: the owner's base currency"
    )
    website_url: str
    is_active: bool
    supports_2fa: bool
    supports_auto_sync: bool
    credential_schema: dict[str, Any]


class BrokerRef(BaseModel):
    code: str
    name: str


class LatestSnapshot(BaseModel):
    snapshot_date: str
    balance: Money
    currency: str


class AccountOut(BaseModel):
    id: int
    name: str
    broker: BrokerRef
    account_type: str
    account_identifier: str
    currency: str
    status: str
    status_message: str | None
    is_manual: bool
    sync_enabled: bool
    last_synced_at: str | None
    created_at: str | None
    latest_snapshot: LatestSnapshot | None
    credentials: dict[str, str] | None = Field(
        description="stored login fields, every value masked (the API holds no key); "
        "null when none are stored"
    )


class SnapshotOut(BaseModel):
    id: int
    snapshot_date: str
    balance: Money
    currency: str
    available_balance: Money | None
    base_currency: str | None
    balance_base_currency: Money | None
    exchange_rate_used: str | None
    rate_date: str | None
    conversion_note: str | None
    snapshot_source: str
    position_count: int


class SnapshotPage(BaseModel):
    count: int
    page: int
    page_size: int
    next: str | None
    previous: str | None
    results: list[SnapshotOut]


# --- wealth -------------------------------------------------------------------------------


class SummaryAccount(BaseModel):
    account_id: int
    account_name: str
    broker: str
    broker_code: str
    balance: Money
    currency: str
    balance_base_currency: Money | None
    snapshot_date: str


class SummaryOut(BaseModel):
    as_of: str | None
    total_wealth: Money
    base_currency: str
    account_count: int
    unconverted_count: int
    accounts: list[SummaryAccount]


class HistoryPoint(BaseModel):
    date: str
    total_wealth: Money


class HistoryOut(BaseModel):
    base_currency: str
    start_date: str | None
    end_date: str | None
    granularity: Literal["daily", "monthly"]
    aggregation: Literal["last", "min", "max", "avg"] | None
    history: list[HistoryPoint]


class BreakdownItem(BaseModel):
    key: str
    category: str
    amount: Money
    percentage: str


class BreakdownOut(BaseModel):
    base_currency: str
    group_by: str
    as_of: str | None
    total: Money
    breakdown: list[BreakdownItem]


class HoldingAccount(BaseModel):
    account_id: int
    account_name: str


class Holding(BaseModel):
    isin: str | None
    symbol: str
    name: str
    asset_class: str
    quantity: str
    value_base_currency: Money | None
    price_base_currency: str | None
    percentage: str | None
    accounts: list[HoldingAccount]


class AssetClassShare(BaseModel):
    asset_class: str
    amount: Money
    percentage: str


class HoldingsOut(BaseModel):
    as_of: str | None
    base_currency: str
    total: Money
    holdings: list[Holding]
    by_asset_class: list[AssetClassShare]


class RateOut(BaseModel):
    currency: str
    rate: str
    rate_date: str


class RatesOut(BaseModel):
    date: str
    base: str
    rates: list[RateOut]
