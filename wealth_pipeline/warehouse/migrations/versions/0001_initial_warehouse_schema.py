"""initial warehouse schema

Revision ID: 0001
Revises:
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

import wealth_pipeline.warehouse.types

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "brokers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("integration_type", sa.String(length=20), nullable=False),
        sa.Column("bank_identifier", sa.String(length=20), server_default="", nullable=False),
        sa.Column("fints_server", sa.String(length=500), server_default="", nullable=False),
        sa.Column("api_base_url", sa.String(length=500), server_default="", nullable=False),
        sa.Column("website_url", sa.String(length=500), server_default="", nullable=False),
        sa.Column("country", sa.String(length=2), server_default="", nullable=False),
        sa.Column("is_active", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("supports_2fa", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("supports_auto_sync", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("credential_schema", sa.JSON(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_brokers")),
        sa.UniqueConstraint("code", name=op.f("uq_brokers_code")),
    )
    op.create_table(
        "exchange_rates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("rate_date", sa.Date(), nullable=False),
        sa.Column("base_currency", sa.String(length=3), server_default="EUR", nullable=False),
        sa.Column("quote_currency", sa.String(length=3), nullable=False),
        sa.Column("rate", wealth_pipeline.warehouse.types.Rate(), nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column(
            "fetched_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint("rate > 0", name=op.f("ck_exchange_rates_rate_positive")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exchange_rates")),
        sa.UniqueConstraint(
            "base_currency",
            "quote_currency",
            "rate_date",
            name=op.f("uq_exchange_rates_base_currency_quote_currency_rate_date"),
        ),
    )
    with op.batch_alter_table("exchange_rates", schema=None) as batch_op:
        batch_op.create_index("ix_exchange_rates_rate_date", ["rate_date"], unique=False)

    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=150), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("is_active", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("auth_hash", sa.Text(), nullable=True),
        sa.Column("auth_salt", sa.String(length=64), nullable=True),
        sa.Column("kek_salt", sa.String(length=64), nullable=True),
        sa.Column("kdf_params", sa.JSON(), nullable=True),
        sa.Column("wrapped_data_key", sa.LargeBinary(), nullable=True),
        sa.Column("credentials_version", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("username", name=op.f("uq_users_username")),
    )
    op.create_table(
        "financial_accounts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("broker_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("account_identifier", sa.String(length=100), server_default="", nullable=False),
        sa.Column("account_type", sa.String(length=20), server_default="checking", nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("encrypted_credentials", sa.LargeBinary(), nullable=True),
        sa.Column("status", sa.String(length=20), server_default="active", nullable=False),
        sa.Column("status_message", sa.Text(), nullable=True),
        sa.Column("is_manual", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("sync_enabled", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("last_synced_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint(
            "account_type IN ('checking', 'savings', 'brokerage', 'retirement', 'credit', 'loan', 'other')",
            name=op.f("ck_financial_accounts_account_type"),
        ),
        sa.CheckConstraint(
            "status IN ('active', 'inactive', 'error', 'pending_auth')",
            name=op.f("ck_financial_accounts_status"),
        ),
        sa.CheckConstraint(
            "length(currency) = 3", name=op.f("ck_financial_accounts_currency_code")
        ),
        sa.ForeignKeyConstraint(
            ["broker_id"],
            ["brokers.id"],
            name=op.f("fk_financial_accounts_broker_id_brokers"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_financial_accounts_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_financial_accounts")),
        sa.UniqueConstraint(
            "user_id",
            "broker_id",
            "account_identifier",
            "name",
            name=op.f("uq_financial_accounts_user_id_broker_id_account_identifier_name"),
        ),
    )
    with op.batch_alter_table("financial_accounts", schema=None) as batch_op:
        batch_op.create_index(
            "ix_financial_accounts_user_status", ["user_id", "status"], unique=False
        )

    op.create_table(
        "mart_changes",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("earliest_changed_day", sa.Date(), nullable=False),
        sa.Column("reason", sa.String(length=200), server_default="", nullable=False),
        sa.Column(
            "changed_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_mart_changes_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_mart_changes")),
    )
    op.create_table(
        "profiles",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("base_currency", sa.String(length=3), server_default="EUR", nullable=False),
        sa.Column("auto_sync_enabled", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("sync_frequency_hours", sa.Integer(), server_default="24", nullable=False),
        sa.Column("weekly_report_enabled", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("report_email", sa.String(length=254), nullable=True),
        sa.Column(
            "monthly_aggregation", sa.String(length=8), server_default="last", nullable=False
        ),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint(
            "monthly_aggregation IN ('last', 'min', 'max', 'avg')",
            name=op.f("ck_profiles_monthly_aggregation"),
        ),
        sa.CheckConstraint(
            "length(base_currency) = 3", name=op.f("ck_profiles_base_currency_code")
        ),
        sa.CheckConstraint(
            "sync_frequency_hours > 0", name=op.f("ck_profiles_sync_frequency_positive")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_profiles_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_profiles")),
    )
    op.create_table(
        "refresh_tokens",
        sa.Column("jti", sa.String(length=64), nullable=False),
        sa.Column("family_id", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_refresh_tokens_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("jti", name=op.f("pk_refresh_tokens")),
    )
    with op.batch_alter_table("refresh_tokens", schema=None) as batch_op:
        batch_op.create_index("ix_refresh_tokens_family_id", ["family_id"], unique=False)
        batch_op.create_index("ix_refresh_tokens_user_id", ["user_id"], unique=False)

    op.create_table(
        "report_deliveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("week", sa.String(length=8), nullable=False),
        sa.Column("recipient", sa.String(length=254), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("message_id", sa.String(length=300), nullable=True),
        sa.Column(
            "sent_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint(
            "status IN ('sent', 'failed')", name=op.f("ck_report_deliveries_status")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_report_deliveries_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_report_deliveries")),
        sa.UniqueConstraint("user_id", "week", name=op.f("uq_report_deliveries_user_id_week")),
    )
    op.create_table(
        "sealed_data_keys",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("sync_key_id", sa.String(length=64), nullable=False),
        sa.Column("sealed_key", sa.LargeBinary(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_sealed_data_keys_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_sealed_data_keys")),
    )
    op.create_table(
        "account_sessions",
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("purpose", sa.String(length=40), nullable=False),
        sa.Column("encrypted_state", sa.LargeBinary(), nullable=False),
        sa.Column("challenge", sa.JSON(), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["financial_accounts.id"],
            name=op.f("fk_account_sessions_account_id_financial_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("account_id", "purpose", name=op.f("pk_account_sessions")),
    )
    op.create_table(
        "account_snapshots",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("snapshot_date", sa.Date(), nullable=False),
        sa.Column("balance", wealth_pipeline.warehouse.types.Amount(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("available_balance", wealth_pipeline.warehouse.types.Amount(), nullable=True),
        sa.Column("base_currency", sa.String(length=3), nullable=True),
        sa.Column("balance_base_currency", wealth_pipeline.warehouse.types.Amount(), nullable=True),
        sa.Column("exchange_rate_used", wealth_pipeline.warehouse.types.Rate(), nullable=True),
        sa.Column("rate_date", sa.Date(), nullable=True),
        sa.Column("snapshot_source", sa.String(length=10), server_default="auto", nullable=False),
        sa.Column("raw_data", sa.JSON(), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint(
            "snapshot_source IN ('auto', 'manual', 'import')",
            name=op.f("ck_account_snapshots_snapshot_source"),
        ),
        sa.CheckConstraint("length(currency) = 3", name=op.f("ck_account_snapshots_currency_code")),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["financial_accounts.id"],
            name=op.f("fk_account_snapshots_account_id_financial_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_account_snapshots")),
        sa.UniqueConstraint(
            "account_id",
            "snapshot_date",
            name=op.f("uq_account_snapshots_account_id_snapshot_date"),
        ),
    )
    with op.batch_alter_table("account_snapshots", schema=None) as batch_op:
        batch_op.create_index("ix_account_snapshots_snapshot_date", ["snapshot_date"], unique=False)

    op.create_table(
        "account_sync_state",
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("sync_date", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("run_id", sa.String(length=64), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint(
            "status IN ('pending', 'running', 'success', 'no_new_data', 'error', 'pending_auth', 'skipped')",
            name=op.f("ck_account_sync_state_status"),
        ),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["financial_accounts.id"],
            name=op.f("fk_account_sync_state_account_id_financial_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("account_id", "sync_date", name=op.f("pk_account_sync_state")),
    )
    with op.batch_alter_table("account_sync_state", schema=None) as batch_op:
        batch_op.create_index(
            "ix_account_sync_state_sync_date", ["sync_date", "status"], unique=False
        )

    op.create_table(
        "portfolio_positions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("snapshot_id", sa.Integer(), nullable=False),
        sa.Column("symbol", sa.String(length=40), server_default="", nullable=False),
        sa.Column("isin", sa.String(length=12), nullable=True),
        sa.Column("name", sa.String(length=300), server_default="", nullable=False),
        sa.Column("quantity", wealth_pipeline.warehouse.types.Quantity(), nullable=False),
        sa.Column("price_per_unit", wealth_pipeline.warehouse.types.Price(), nullable=True),
        sa.Column("market_value", wealth_pipeline.warehouse.types.Amount(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("cost_basis", wealth_pipeline.warehouse.types.Amount(), nullable=True),
        sa.Column("asset_class", sa.String(length=20), server_default="other", nullable=False),
        sa.Column("price_base_currency", wealth_pipeline.warehouse.types.Price(), nullable=True),
        sa.Column(
            "market_value_base_currency", wealth_pipeline.warehouse.types.Amount(), nullable=True
        ),
        sa.Column("exchange_rate_used", wealth_pipeline.warehouse.types.Rate(), nullable=True),
        sa.Column("raw_data", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(
            ["snapshot_id"],
            ["account_snapshots.id"],
            name=op.f("fk_portfolio_positions_snapshot_id_account_snapshots"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_portfolio_positions")),
    )
    with op.batch_alter_table("portfolio_positions", schema=None) as batch_op:
        batch_op.create_index("ix_portfolio_positions_isin", ["isin"], unique=False)
        batch_op.create_index("ix_portfolio_positions_snapshot_id", ["snapshot_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("portfolio_positions", schema=None) as batch_op:
        batch_op.drop_index("ix_portfolio_positions_snapshot_id")
        batch_op.drop_index("ix_portfolio_positions_isin")

    op.drop_table("portfolio_positions")
    with op.batch_alter_table("account_sync_state", schema=None) as batch_op:
        batch_op.drop_index("ix_account_sync_state_sync_date")

    op.drop_table("account_sync_state")
    with op.batch_alter_table("account_snapshots", schema=None) as batch_op:
        batch_op.drop_index("ix_account_snapshots_snapshot_date")

    op.drop_table("account_snapshots")
    op.drop_table("account_sessions")
    op.drop_table("sealed_data_keys")
    op.drop_table("report_deliveries")
    with op.batch_alter_table("refresh_tokens", schema=None) as batch_op:
        batch_op.drop_index("ix_refresh_tokens_user_id")
        batch_op.drop_index("ix_refresh_tokens_family_id")

    op.drop_table("refresh_tokens")
    op.drop_table("profiles")
    op.drop_table("mart_changes")
    with op.batch_alter_table("financial_accounts", schema=None) as batch_op:
        batch_op.drop_index("ix_financial_accounts_user_status")

    op.drop_table("financial_accounts")
    op.drop_table("users")
    with op.batch_alter_table("exchange_rates", schema=None) as batch_op:
        batch_op.drop_index("ix_exchange_rates_rate_date")

    op.drop_table("exchange_rates")
    op.drop_table("brokers")
