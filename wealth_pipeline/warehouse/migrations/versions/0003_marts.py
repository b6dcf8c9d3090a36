"""the marts: account values per day, net worth daily and monthly, breakdowns, holdings

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

import wealth_pipeline.warehouse.types

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "mart_builds",
        sa.Column("model", sa.String(length=100), nullable=False),
        sa.Column("built_through", sa.Date(), nullable=False),
        sa.Column(
            "built_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("rows_written", sa.Integer(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("model", name=op.f("pk_mart_builds")),
    )
    op.create_table(
        "mart_breakdowns",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("dimension", sa.String(length=20), nullable=False),
        sa.Column("category_key", sa.String(length=320), nullable=False),
        sa.Column("category", sa.String(length=320), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("base_currency", sa.String(length=3), nullable=False),
        sa.Column("amount", wealth_pipeline.warehouse.types.Amount(), nullable=False),
        sa.CheckConstraint(
            "dimension IN ('broker', 'currency', 'account_type', 'account', 'asset_class')",
            name=op.f("ck_mart_breakdowns_dimension"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_mart_breakdowns_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "user_id", "dimension", "category_key", name=op.f("pk_mart_breakdowns")
        ),
    )
    op.create_table(
        "mart_holdings",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("holding_key", sa.String(length=320), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("isin", sa.String(length=12), nullable=True),
        sa.Column("symbol", sa.String(length=40), server_default="", nullable=False),
        sa.Column("name", sa.String(length=300), server_default="", nullable=False),
        sa.Column("asset_class", sa.String(length=20), nullable=False),
        sa.Column("base_currency", sa.String(length=3), nullable=False),
        sa.Column("quantity", wealth_pipeline.warehouse.types.Quantity(), nullable=False),
        sa.Column("value_base_currency", wealth_pipeline.warehouse.types.Amount(), nullable=True),
        sa.Column("price_base_currency", wealth_pipeline.warehouse.types.Price(), nullable=True),
        sa.Column("accounts", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_mart_holdings_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", "holding_key", name=op.f("pk_mart_holdings")),
    )
    op.create_table(
        "mart_net_worth_daily",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("base_currency", sa.String(length=3), nullable=False),
        sa.Column("total_wealth", wealth_pipeline.warehouse.types.Amount(), nullable=False),
        sa.Column("account_count", sa.Integer(), nullable=False),
        sa.Column("unconverted_count", sa.Integer(), server_default="0", nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_mart_net_worth_daily_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", "day", name=op.f("pk_mart_net_worth_daily")),
    )
    op.create_table(
        "mart_net_worth_monthly",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("base_currency", sa.String(length=3), nullable=False),
        sa.Column("last_day", sa.Date(), nullable=False),
        sa.Column("last_value", wealth_pipeline.warehouse.types.Amount(), nullable=False),
        sa.Column("min_value", wealth_pipeline.warehouse.types.Amount(), nullable=False),
        sa.Column("max_value", wealth_pipeline.warehouse.types.Amount(), nullable=False),
        sa.Column("sum_value", wealth_pipeline.warehouse.types.Amount(), nullable=False),
        sa.Column("day_count", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_mart_net_worth_monthly_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", "month", name=op.f("pk_mart_net_worth_monthly")),
    )
    op.create_table(
        "mart_account_daily",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("snapshot_date", sa.Date(), nullable=False),
        sa.Column("balance", wealth_pipeline.warehouse.types.Amount(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("base_currency", sa.String(length=3), nullable=True),
        sa.Column("balance_base_currency", wealth_pipeline.warehouse.types.Amount(), nullable=True),
        sa.Column("positions_snapshot_date", sa.Date(), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["financial_accounts.id"],
            name=op.f("fk_mart_account_daily_account_id_financial_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_mart_account_daily_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", "day", "account_id", name=op.f("pk_mart_account_daily")),
    )


def downgrade() -> None:
    op.drop_table("mart_account_daily")
    op.drop_table("mart_net_worth_monthly")
    op.drop_table("mart_net_worth_daily")
    op.drop_table("mart_holdings")
    op.drop_table("mart_breakdowns")
    op.drop_table("mart_builds")
