"""The warehouse tables: everything the product holds, with natural keys as unique constraints.

Money columns use the exact types of `warehouse.types`; statuses and sources are short
strings checked by constraints (portable across SQLite and PostgreSQL, easy to extend in a
migration).
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
    func,
    text,
    true,
)

from wealth_pipeline.warehouse.types import Amount, Price, Quantity, Rate

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
metadata = MetaData(naming_convention=NAMING)

ACCOUNT_STATUSES = ("active", "inactive", "error", "pending_auth")
SNAPSHOT_SOURCES = ("auto", "manual", "import")
ACCOUNT_TYPES = ("checking", "savings", "brokerage", "retirement", "credit", "loan", "other")
MONTHLY_AGGREGATIONS = ("last", "min", "max", "avg")
# Cash flows: money into an account is positive, out of it negative. External flows (what the
# owner put in or took out) versus what the account earned or paid (its return).
FLOW_KINDS = (
    "deposit",
    "withdrawal",
    "dividend",
    "interest",
    "fee",
    "tax",
    "transfer_in",
    "transfer_out",
    "other",
)
FLOW_SOURCES = ("auto", "manual", "import")
SYNC_STATUSES = ("pending", "running", "success", "no_new_data", "error", "pending_auth", "skipped")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _timestamps() -> list[Column]:
    return [
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column(
            "updated_at",
            DateTime(timezone=True),
            nullable=False,
            server_default=func.now(),
            onupdate=func.now(),
        ),
    ]


users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("username", String(150), nullable=False, unique=True),
    Column("email", String(254)),
    Column("is_active", Boolean, nullable=False, server_default=true()),
    # Login: an Argon2id hash of the client-derived auth_hash, never the password.
    Column("auth_hash", Text),
    Column("auth_salt", String(64)),
    Column("kek_salt", String(64)),
    Column("kdf_params", JSON),
    # The per-user data key, wrapped by the password-derived KEK.
    Column("wrapped_data_key", LargeBinary),
    # Bumped on password change: tokens issued before it are refused.
    Column("credentials_version", Integer, nullable=False, server_default="1"),
    *_timestamps(),
)

profiles = Table(
    "profiles",
    metadata,
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("base_currency", String(3), nullable=False, server_default="EUR"),
    Column("auto_sync_enabled", Boolean, nullable=False, server_default=false()),
    Column("sync_frequency_hours", Integer, nullable=False, server_default="24"),
    Column("weekly_report_enabled", Boolean, nullable=False, server_default=false()),
    Column("report_email", String(254)),
    Column("monthly_aggregation", String(8), nullable=False, server_default="last"),
    *_timestamps(),
    CheckConstraint("sync_frequency_hours > 0", name="sync_frequency_positive"),
    CheckConstraint(_in("monthly_aggregation", MONTHLY_AGGREGATIONS), name="monthly_aggregation"),
    CheckConstraint("length(base_currency) = 3", name="base_currency_code"),
)

# The data key sealed to the pipeline's sync public key: present only while auto-sync is on.
sealed_data_keys = Table(
    "sealed_data_keys",
    metadata,
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("sync_key_id", String(64), nullable=False),
    Column("sealed_key", LargeBinary, nullable=False),
    *_timestamps(),
)

brokers = Table(
    "brokers",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("code", String(40), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("integration_type", String(20), nullable=False),
    Column("bank_identifier", String(20), nullable=False, server_default=""),
    Column("fints_server", String(500), nullable=False, server_default=""),
    Column("api_base_url", String(500), nullable=False, server_default=""),
    Column("website_url", String(500), nullable=False, server_default=""),
    Column("country", String(2), nullable=False, server_default=""),
    # The usual currency of its accounts ("": the owner's base currency).
    Column("default_currency", String(3), nullable=False, server_default=""),
    Column("is_active", Boolean, nullable=False, server_default=true()),
    Column("supports_2fa", Boolean, nullable=False, server_default=false()),
    Column("supports_auto_sync", Boolean, nullable=False, server_default=false()),
    # unattended | assisted | manual, and why (brokers.catalogue.SYNC_MODES)
    Column("sync_mode", String(12), nullable=False, server_default="unattended"),
    Column("sync_note", Text, nullable=False, server_default=""),
    Column("credential_schema", JSON, nullable=False),
    *_timestamps(),
)

financial_accounts = Table(
    "financial_accounts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("broker_id", ForeignKey("brokers.id", ondelete="RESTRICT"), nullable=False),
    Column("name", String(200), nullable=False),
    Column("account_identifier", String(100), nullable=False, server_default=""),
    Column("account_type", String(20), nullable=False, server_default="checking"),
    Column("currency", String(3), nullable=False),
    Column("encrypted_credentials", LargeBinary),
    Column("status", String(20), nullable=False, server_default="active"),
    Column("status_message", Text),
    Column("is_manual", Boolean, nullable=False, server_default=false()),
    Column("sync_enabled", Boolean, nullable=False, server_default=true()),
    Column("last_synced_at", DateTime(timezone=True)),
    *_timestamps(),
    CheckConstraint(_in("status", ACCOUNT_STATUSES), name="status"),
    CheckConstraint(_in("account_type", ACCOUNT_TYPES), name="account_type"),
    CheckConstraint("length(currency) = 3", name="currency_code"),
    UniqueConstraint("user_id", "broker_id", "account_identifier", "name"),
    Index("ix_financial_accounts_user_status", "user_id", "status"),
)

# Encrypted bank session state (FinTS client data, a paused TAN dialog) per account and purpose.
account_sessions = Table(
    "account_sessions",
    metadata,
    Column("account_id", ForeignKey("financial_accounts.id", ondelete="CASCADE"), primary_key=True),
    Column("purpose", String(40), primary_key=True),
    Column("encrypted_state", LargeBinary, nullable=False),
    Column("challenge", JSON),
    Column("expires_at", DateTime(timezone=True)),
    *_timestamps(),
)

account_snapshots = Table(
    "account_snapshots",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("account_id", ForeignKey("financial_accounts.id", ondelete="CASCADE"), nullable=False),
    Column("snapshot_date", Date, nullable=False),
    Column("balance", Amount(), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("available_balance", Amount()),
    # Conversion into the owner's base currency; NULL until a rate exists.
    Column("base_currency", String(3)),
    Column("balance_base_currency", Amount()),
    Column("exchange_rate_used", Rate()),
    Column("rate_date", Date),
    Column("snapshot_source", String(10), nullable=False, server_default="auto"),
    Column("raw_data", JSON),
    *_timestamps(),
    # Why the conversion is NULL (the rate lookup's reason), for people; NULL when converted.
    Column("conversion_note", Text),
    CheckConstraint(_in("snapshot_source", SNAPSHOT_SOURCES), name="snapshot_source"),
    CheckConstraint("length(currency) = 3", name="currency_code"),
    UniqueConstraint("account_id", "snapshot_date"),
    Index("ix_account_snapshots_snapshot_date", "snapshot_date"),
    # Only the unconverted snapshots: what the conversion sensor and `conversions fix` look for.
    Index(
        "ix_account_snapshots_unconverted",
        "snapshot_date",
        postgresql_where=text("balance_base_currency IS NULL"),
        sqlite_where=text("balance_base_currency IS NULL"),
    ),
    # Only snapshots converted at an older day's rate (weekends, holidays, a late ECB): where
    # the conversion sensor looks for provisional conversions when a rate arrives.
    Index(
        "ix_account_snapshots_provisional",
        "snapshot_date",
        postgresql_where=text("rate_date < snapshot_date"),
        sqlite_where=text("rate_date < snapshot_date"),
    ),
)

portfolio_positions = Table(
    "portfolio_positions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("snapshot_id", ForeignKey("account_snapshots.id", ondelete="CASCADE"), nullable=False),
    Column("symbol", String(40), nullable=False, server_default=""),
    Column("isin", String(12)),
    Column("name", String(300), nullable=False, server_default=""),
    Column("quantity", Quantity(), nullable=False),
    Column("price_per_unit", Price()),
    Column("market_value", Amount(), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("cost_basis", Amount()),
    Column("asset_class", String(20), nullable=False, server_default="other"),
    Column("price_base_currency", Price()),
    Column("market_value_base_currency", Amount()),
    Column("exchange_rate_used", Rate()),
    Column("raw_data", JSON),
    Index("ix_portfolio_positions_snapshot_id", "snapshot_id"),
    Index("ix_portfolio_positions_isin", "isin"),
)

# ECB reference rates as published: 1 base_currency = rate quote_currency.
exchange_rates = Table(
    "exchange_rates",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("rate_date", Date, nullable=False),
    Column("base_currency", String(3), nullable=False, server_default="EUR"),
    Column("quote_currency", String(3), nullable=False),
    Column("rate", Rate(), nullable=False),
    Column("source", String(20), nullable=False),
    Column("fetched_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint("rate > 0", name="rate_positive"),
    UniqueConstraint("base_currency", "quote_currency", "rate_date"),
    Index("ix_exchange_rates_rate_date", "rate_date"),
)

# Money moved into (positive) or out of (negative) an account on a day, in its currency, and
# converted into the owner's base currency at that day's rate (NULL until a rate exists, as
# for snapshots). `external_id` is the service's id of the flow: a re-sync never duplicates.
# `paired_flow_id` links the two legs of a transfer between the owner's own accounts.
cash_flows = Table(
    "cash_flows",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("account_id", ForeignKey("financial_accounts.id", ondelete="CASCADE"), nullable=False),
    Column("flow_date", Date, nullable=False),
    Column("amount", Amount(), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("source", String(10), nullable=False, server_default="manual"),
    Column("external_id", String(200)),
    Column("description", Text, nullable=False, server_default=""),
    Column("raw_data", JSON),
    Column("base_currency", String(3)),
    Column("amount_base_currency", Amount()),
    Column("exchange_rate_used", Rate()),
    Column("rate_date", Date),
    Column("conversion_note", Text),
    Column("paired_flow_id", ForeignKey("cash_flows.id", ondelete="SET NULL")),
    *_timestamps(),
    CheckConstraint(_in("kind", FLOW_KINDS), name="kind"),
    CheckConstraint(_in("source", FLOW_SOURCES), name="source"),
    CheckConstraint("length(currency) = 3", name="currency_code"),
    UniqueConstraint("account_id", "external_id"),
    Index("ix_cash_flows_account_day", "account_id", "flow_date"),
    Index("ix_cash_flows_flow_date", "flow_date"),
)

# The days for which an account's flows are known complete (fetched from the service, imported
# from a statement, or declared by its owner): only those days get a return; the others'
# changes are "not explained".
cash_flow_coverage = Table(
    "cash_flow_coverage",
    metadata,
    Column("account_id", ForeignKey("financial_accounts.id", ondelete="CASCADE"), primary_key=True),
    Column("covered_from", Date, nullable=False),
    Column("covered_through", Date, nullable=False),
    *_timestamps(),
    CheckConstraint("covered_from <= covered_through", name="range"),
)

# Per account and day: what the sync did, so retries skip what landed and checks can tell.
account_sync_state = Table(
    "account_sync_state",
    metadata,
    Column("account_id", ForeignKey("financial_accounts.id", ondelete="CASCADE"), primary_key=True),
    Column("sync_date", Date, primary_key=True),
    Column("status", String(20), nullable=False),
    Column("reason", Text),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("run_id", String(64)),
    Column("finished_at", DateTime(timezone=True)),
    *_timestamps(),
    CheckConstraint(_in("status", SYNC_STATUSES), name="status"),
    Index("ix_account_sync_state_sync_date", "sync_date", "status"),
)

# Earliest day changed per user since the marts last built from it (incremental rebuilds):
# the user-level marts rebuild from that day; so do all the user's accounts' daily rows,
# unless `accounts_only` (every change folded in concerned single accounts, listed in
# `mart_account_changes`). See `wealth_pipeline.marts`.
mart_changes = Table(
    "mart_changes",
    metadata,
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("earliest_changed_day", Date, nullable=False),
    Column("reason", String(200), nullable=False, server_default=""),
    Column("changed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("accounts_only", Boolean, nullable=False, server_default=false()),
)

# Earliest day changed per account (no foreign key on the account: a removed account's
# change must outlive it, so its rows are rebuilt away).
mart_account_changes = Table(
    "mart_account_changes",
    metadata,
    Column("account_id", Integer, primary_key=True),
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("earliest_changed_day", Date, nullable=False),
    Column("reason", String(200), nullable=False, server_default=""),
    Column("changed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

# The API's refresh tokens: rotated on use; reuse revokes the whole family.
refresh_tokens = Table(
    "refresh_tokens",
    metadata,
    Column("jti", String(64), primary_key=True),
    Column("family_id", String(64), nullable=False),
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("issued_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("used_at", DateTime(timezone=True)),
    Column("revoked_at", DateTime(timezone=True)),
    Index("ix_refresh_tokens_family_id", "family_id"),
    Index("ix_refresh_tokens_user_id", "user_id"),
)

# One-time dashboard sign-in links (`wealth dashboard link`): only a hash of the code is kept,
# and a link works once, before it expires.
signin_links = Table(
    "signin_links",
    metadata,
    Column("code_hash", String(64), primary_key=True),
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("credentials_version", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("used_at", DateTime(timezone=True)),
    Index("ix_signin_links_user_id", "user_id"),
)

# What the weekly report sent, per user and ISO week, so a re-run never sends twice.
report_deliveries = Table(
    "report_deliveries",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("week", String(8), nullable=False),
    Column("recipient", String(254), nullable=False),
    Column("status", String(10), nullable=False),
    Column("detail", Text),
    Column("message_id", String(300)),
    Column("sent_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint(_in("status", ("sent", "failed")), name="status"),
    UniqueConstraint("user_id", "week"),
)

# --- The marts: built by the SQL models in `dbt_like_sql/`, read by the API and the report. ---
# Derived data only: every row can be rebuilt from the tables above. Sums are stored, shares
# (percentages) and averages are computed exactly when read.

# The two large marts have no foreign keys (their per-row checks cost more than half of a
# full PostgreSQL build): triggers of migration 0008 delete a removed user's or account's
# rows instead. On SQLite they are WITHOUT ROWID tables: one B-tree in key order.

# Each account's value on every day from its first snapshot on: the latest snapshot on or
# before `day`, carried forward (`snapshot_date` says which one).
mart_account_daily = Table(
    "mart_account_daily",
    metadata,
    Column("user_id", Integer, primary_key=True),
    Column("day", Date, primary_key=True),
    Column("account_id", Integer, primary_key=True),
    Column("snapshot_date", Date, nullable=False),
    Column("balance", Amount(), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("base_currency", String(3)),
    # NULL while the carried snapshot is unconverted (not counted in the totals).
    Column("balance_base_currency", Amount()),
    # The latest snapshot with positions on or before `day` (what breakdowns and holdings
    # use), NULL if none: carried forward like `snapshot_date`.
    Column("positions_snapshot_date", Date),
    # The rate the carried snapshot was converted at (the returns' currency effect), NULL
    # while unconverted (migration 0012).
    Column("exchange_rate_used", Rate()),
    # Where the day's change in value came from (base currency; migration 0013). `covered`
    # days (flows known, values and flows converted) split the change into the net external
    # flow and the market result (change - external flow; it includes income, costs and the
    # currency effect); other days' change is `unexplained`. The exact currency effect and
    # the ratios come from the functions of `marts.returns_daily`.
    Column("covered", Boolean),
    Column("value_start", Amount()),  # the day before's end value (0 before the first day)
    Column("external_flow", Amount()),  # deposits, withdrawals, transfers, other
    Column("paired_transfers", Amount()),  # the part of external_flow paired with own accounts
    Column("income", Amount()),  # dividends, interest
    Column("costs", Amount()),  # fees, taxes (negative)
    Column("market_result", Amount()),  # change in value - external flow
    # the value at the start in the account's currency x (rate at the end - at the start)
    Column("currency_effect", Amount()),
    Column("unexplained", Amount()),  # the change on a day without flow data
    Column("daily_return", Float),  # market_result / (value_start + external_flow)
    Column("twr_index", Float),  # chain-linked from 1.0; carried over uncovered days
    sqlite_with_rowid=False,
)

# Net worth per user and day in the base currency (the sum of the converted account values).
mart_net_worth_daily = Table(
    "mart_net_worth_daily",
    metadata,
    Column("user_id", Integer, primary_key=True),
    Column("day", Date, primary_key=True),
    Column("base_currency", String(3), nullable=False),
    Column("total_wealth", Amount(), nullable=False),
    Column("account_count", Integer, nullable=False),
    # Accounts whose carried snapshot has no base amount yet: the total leaves them out.
    Column("unconverted_count", Integer, nullable=False, server_default="0"),
    sqlite_with_rowid=False,
)

# Net worth per user and month: every aggregation the profile may choose (avg = sum / days).
mart_net_worth_monthly = Table(
    "mart_net_worth_monthly",
    metadata,
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("month", Date, primary_key=True),  # the month's first day
    Column("base_currency", String(3), nullable=False),
    Column("last_day", Date, nullable=False),
    Column("last_value", Amount(), nullable=False),
    Column("min_value", Amount(), nullable=False),
    Column("max_value", Amount(), nullable=False),
    Column("sum_value", Amount(), nullable=False),
    Column("day_count", Integer, nullable=False),
)

# Today's (the marts' last day's) wealth by broker, currency, account_type, account and
# asset_class. `category` is the group's display name; `category_key` its stable key.
mart_breakdowns = Table(
    "mart_breakdowns",
    metadata,
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("dimension", String(20), primary_key=True),
    Column("category_key", String(320), primary_key=True),
    Column("category", String(320), nullable=False),
    Column("as_of", Date, nullable=False),
    Column("base_currency", String(3), nullable=False),
    Column("amount", Amount(), nullable=False),
    CheckConstraint(
        _in("dimension", ("broker", "currency", "account_type", "account", "asset_class")),
        name="dimension",
    ),
)

# Positions of each account's latest snapshot that has positions, merged across accounts by
# ISIN (else symbol, else name).
mart_holdings = Table(
    "mart_holdings",
    metadata,
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("holding_key", String(320), primary_key=True),
    Column("as_of", Date, nullable=False),
    Column("isin", String(12)),
    Column("symbol", String(40), nullable=False, server_default=""),
    Column("name", String(300), nullable=False, server_default=""),
    Column("asset_class", String(20), nullable=False),
    Column("base_currency", String(3), nullable=False),
    Column("quantity", Quantity(), nullable=False),
    Column("value_base_currency", Amount()),
    Column("price_base_currency", Price()),
    Column("accounts", JSON, nullable=False),  # [{"account_id", "account_name"}]
)

# The marts' own bookkeeping: through which day each model was last built, and when.
mart_builds = Table(
    "mart_builds",
    metadata,
    Column("model", String(100), primary_key=True),
    Column("built_through", Date, nullable=False),
    Column("built_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("rows_written", Integer, nullable=False, server_default="0"),
)

# The user's total per day: the sums of the accounts' rows; the return over covered accounts,
# with transfers between own accounts (paired) not counted as external flows.
mart_returns_daily = Table(
    "mart_returns_daily",
    metadata,
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("day", Date, primary_key=True),
    Column("base_currency", String(3), nullable=False),
    Column("value_start", Amount(), nullable=False),
    Column("value_end", Amount(), nullable=False),
    Column("covered_value_start", Amount(), nullable=False),
    Column("covered_value_end", Amount(), nullable=False),
    Column("external_flow", Amount(), nullable=False),
    Column("internal_transfers", Amount(), nullable=False),  # paired legs (in transit)
    Column("income", Amount(), nullable=False),
    Column("costs", Amount(), nullable=False),
    Column("market_result", Amount(), nullable=False),
    Column("currency_effect", Amount(), nullable=False),
    Column("unexplained", Amount(), nullable=False),
    Column("account_count", Integer, nullable=False),
    Column("covered_count", Integer, nullable=False),
    Column("unknown_count", Integer, nullable=False),  # accounts without a converted value
    # Accounts whose carried snapshot has no base amount yet (mart_net_worth_daily's count).
    Column("unconverted_count", Integer, nullable=False, server_default="0"),
    Column("daily_return", Float),
    Column("twr_index", Float),
)

# --- The projection (wealth_pipeline.projection): goals, settings, and the weekly results. ---

# A person's savings goals: reach `target` (base currency, today's money) by `target_date`.
goals = Table(
    "goals",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(100), nullable=False),
    Column("target", Amount(), nullable=False),
    Column("target_date", Date, nullable=False),
    *_timestamps(),
    CheckConstraint("target > 0", name="target_positive"),
    UniqueConstraint("user_id", "name"),
)

# What the projection assumes for one user, beyond the defaults (NULL: the default applies).
projection_settings = Table(
    "projection_settings",
    metadata,
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    # Yearly spending in today's money: the "when can I stop working?" question.
    Column("yearly_spending", Amount()),
    Column("birth_year", Integer),
    Column("plan_until_age", Integer),
    # Monthly saving instead of the median net external flow of the last 12 months.
    Column("monthly_saving", Amount()),
    # From this day on the monthly saving becomes `saving_after_change` (negative: withdrawals).
    Column("saving_change_date", Date),
    Column("saving_after_change", Amount()),
    *_timestamps(),
    CheckConstraint("yearly_spending IS NULL OR yearly_spending > 0", name="spending_positive"),
    CheckConstraint(
        "plan_until_age IS NULL OR (plan_until_age > 0 AND plan_until_age <= 130)",
        name="plan_until_age_range",
    ),
)

# One row per user and ISO week: the projection's inputs and answers (method, parameters,
# seed, start wealth, saving, the stop-working answer) as the weekly asset computed them.
projection_runs = Table(
    "projection_runs",
    metadata,
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("week", String(8), primary_key=True),
    Column("as_of", Date, nullable=False),
    Column("base_currency", String(3), nullable=False),
    Column("start_wealth", Amount(), nullable=False),
    Column("monthly_saving", Amount(), nullable=False),
    Column("method", String(20), nullable=False),
    Column("seed", String(40), nullable=False),
    Column("inputs", JSON, nullable=False),
    Column("stop_working", JSON),
    Column("computed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

# Percentile bands of net worth per month (month 0 = today's net worth), in today's money.
projection_bands = Table(
    "projection_bands",
    metadata,
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("week", String(8), primary_key=True),
    Column("month", Integer, primary_key=True),
    Column("day", Date, nullable=False),
    Column("p5", Amount(), nullable=False),
    Column("p25", Amount(), nullable=False),
    Column("p50", Amount(), nullable=False),
    Column("p75", Amount(), nullable=False),
    Column("p95", Amount(), nullable=False),
)

# Per goal and week: the chance of reaching it (paths reaching / paths, exact), the median
# date it is reached, the monthly saving for 50 % and 80 %, and the bands on its date.
projection_goal_results = Table(
    "projection_goal_results",
    metadata,
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("week", String(8), primary_key=True),
    Column("goal_id", ForeignKey("goals.id", ondelete="CASCADE"), primary_key=True),
    Column("name", String(100), nullable=False),
    Column("target", Amount(), nullable=False),
    Column("target_date", Date, nullable=False),
    Column("paths", Integer, nullable=False),
    Column("paths_reaching", Integer, nullable=False),
    Column("median_date", Date),
    Column("saving_for_50", Amount()),
    Column("saving_for_80", Amount()),
    Column("p5", Amount(), nullable=False),
    Column("p25", Amount(), nullable=False),
    Column("p50", Amount(), nullable=False),
    Column("p75", Amount(), nullable=False),
    Column("p95", Amount(), nullable=False),
)
