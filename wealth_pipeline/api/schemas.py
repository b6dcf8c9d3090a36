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
        min_length=44,
        max_length=44,
        pattern=r"^[A-Za-z0-9+/]{43}=$",  # what the route decodes: padded base64 of 32 bytes
        description="base64 (padded) of the 32-byte Argon2id(password, auth_salt)",
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
    supports_auto_sync: bool = Field(description="the daily run syncs it without a person")
    sync_mode: Literal["unattended", "assisted", "manual"] = Field(
        description="unattended: the daily run logs in alone (a bank may ask for an approval "
        "now and then); assisted: every fresh login needs the person (an SMS code, a "
        "short-lived token, a photoTAN), so the account syncs when its owner runs `wealth "
        "accounts auth` and waits otherwise; manual: balances are recorded by hand"
    )
    sync_note: str = Field(description="why the broker syncs this way")
    credential_schema: dict[str, Any]


class BrokerRef(BaseModel):
    code: str
    name: str


class LatestSnapshot(BaseModel):
    snapshot_date: str
    balance: Money
    currency: str


class Waiting(BaseModel):
    reason: str = Field(description="why the account waits for its owner (not a failure)")
    last_data: str | None = Field(description="the day of its newest snapshot")
    command: str = Field(description="the command that syncs it now")


class AccountOut(BaseModel):
    id: int
    name: str
    broker: BrokerRef
    account_type: str
    account_identifier: str
    currency: str
    status: str
    status_message: str | None
    sync_mode: str = Field(description="unattended, assisted or manual (see the broker)")
    waiting: Waiting | None = Field(
        description="set while the account waits for its owner (status pending_auth)"
    )
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


class WeekChange(BaseModel):
    """Net worth now against 7 days before, over the accounts counted on both days."""

    since: str
    amount: Money | None = Field(description="null when no account was counted a week ago")
    percentage: str | None
    like_for_like: bool = Field(
        description="false when the accounts counted changed (no rate, added, removed): the "
        "amount then leaves those accounts out, and `note` says which"
    )
    note: str | None


class SummaryOut(BaseModel):
    as_of: str | None
    total_wealth: Money
    base_currency: str
    account_count: int
    unconverted_count: int
    accounts: list[SummaryAccount]
    week_change: WeekChange | None = None
    figures_note: str | None = Field(
        None,
        description="when the demo's figures stop on the last day with exchange rates "
        "(offline): one sentence saying so and how to get later rates",
    )


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


# --- returns and cash flows --------------------------------------------------------------


class PeriodFiguresOut(BaseModel):
    period: str
    start_date: str
    end_date: str
    base_currency: str
    account_id: int | None
    account_name: str | None = None
    days: int
    covered_days: int = Field(description="days on which flows were known (for any account)")
    value_start: Money
    value_end: Money
    change: Money
    contributions: Money = Field(description="net external flow: deposits minus withdrawals")
    internal_transfers: Money = Field(description="transfers between own accounts in transit")
    market_result: Money = Field(description="change - contributions (incl. currency effect)")
    currency_effect: Money
    markets: Money = Field(description="market_result - currency_effect")
    income: Money
    costs: Money
    unexplained: Money = Field(description="change of accounts or days without flow data")
    time_weighted_return: str | None = Field(description="ratio, 8 decimals")
    money_weighted_return: str | None = Field(description="ratio (XIRR), 8 decimals")
    annualised: bool
    notes: list[str]


class PerformanceOut(BaseModel):
    period: str
    total: PeriodFiguresOut | None
    accounts: list[PeriodFiguresOut]


class FlowOut(BaseModel):
    id: int
    flow_date: str
    amount: Money
    currency: str
    kind: str
    source: str
    description: str
    base_currency: str | None
    amount_base_currency: Money | None
    exchange_rate_used: str | None
    rate_date: str | None
    conversion_note: str | None
    paired_flow_id: int | None


class FlowPage(BaseModel):
    count: int
    page: int
    page_size: int
    covered_from: str | None
    covered_through: str | None
    next: str | None
    previous: str | None
    results: list[FlowOut]
