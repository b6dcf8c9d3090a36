"""cash flows, their coverage, and the returns marts (per account and total, per day)
Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

import wealth_pipeline.warehouse.types

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "mart_returns_daily",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("base_currency", sa.String(length=3), nullable=False),
        sa.Column("value_start", wealth_pipeline.warehouse.types.Amount(), nullable=False),
        sa.Column("value_end", wealth_pipeline.warehouse.types.Amount(), nullable=False),
        sa.Column("covered_value_start", wealth_pipeline.warehouse.types.Amount(), nullable=False),
        sa.Column("covered_value_end", wealth_pipeline.warehouse.types.Amount(), nullable=False),
        sa.Column("external_flow", wealth_pipeline.warehouse.types.Amount(), nullable=False),
        sa.Column("internal_transfers", wealth_pipeline.warehouse.types.Amount(), nullable=False),
        sa.Column("income", wealth_pipeline.warehouse.types.Amount(), nullable=False),
        sa.Column("costs", wealth_pipeline.warehouse.types.Amount(), nullable=False),
        sa.Column("market_result", wealth_pipeline.warehouse.types.Amount(), nullable=False),
        sa.Column("currency_effect", wealth_pipeline.warehouse.types.Amount(), nullable=False),
        sa.Column("unexplained", wealth_pipeline.warehouse.types.Amount(), nullable=False),
        sa.Column("account_count", sa.Integer(), nullable=False),
        sa.Column("covered_count", sa.Integer(), nullable=False),
        sa.Column("unknown_count", sa.Integer(), nullable=False),
        sa.Column("daily_return", sa.Float(), nullable=True),
        sa.Column("twr_index", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_mart_returns_daily_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", "day", name=op.f("pk_mart_returns_daily")),
    )
    op.create_table(
        "cash_flow_coverage",
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("covered_from", sa.Date(), nullable=False),
        sa.Column("covered_through", sa.Date(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint(
            "covered_from <= covered_through", name=op.f("ck_cash_flow_coverage_range")
        ),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["financial_accounts.id"],
            name=op.f("fk_cash_flow_coverage_account_id_financial_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_cash_flow_coverage")),
    )
    op.create_table(
        "cash_flows",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("flow_date", sa.Date(), nullable=False),
        sa.Column("amount", wealth_pipeline.warehouse.types.Amount(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("source", sa.String(length=10), server_default="manual", nullable=False),
        sa.Column("external_id", sa.String(length=200), nullable=True),
        sa.Column("description", sa.Text(), server_default="", nullable=False),
        sa.Column("raw_data", sa.JSON(), nullable=True),
        sa.Column("base_currency", sa.String(length=3), nullable=True),
        sa.Column("amount_base_currency", wealth_pipeline.warehouse.types.Amount(), nullable=True),
        sa.Column("exchange_rate_used", wealth_pipeline.warehouse.types.Rate(), nullable=True),
        sa.Column("rate_date", sa.Date(), nullable=True),
        sa.Column("conversion_note", sa.Text(), nullable=True),
        sa.Column("paired_flow_id", sa.Integer(), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint(
            "kind IN ('deposit', 'withdrawal', 'dividend', 'interest', 'fee', 'tax', 'transfer_in', 'transfer_out', 'other')",
            name=op.f("ck_cash_flows_kind"),
        ),
        sa.CheckConstraint(
            "source IN ('auto', 'manual', 'import')", name=op.f("ck_cash_flows_source")
        ),
        sa.CheckConstraint("length(currency) = 3", name=op.f("ck_cash_flows_currency_code")),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["financial_accounts.id"],
            name=op.f("fk_cash_flows_account_id_financial_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["paired_flow_id"],
            ["cash_flows.id"],
            name=op.f("fk_cash_flows_paired_flow_id_cash_flows"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cash_flows")),
        sa.UniqueConstraint(
            "account_id", "external_id", name=op.f("uq_cash_flows_account_id_external_id")
        ),
    )
    with op.batch_alter_table("cash_flows", schema=None) as batch_op:
        batch_op.create_index(
            "ix_cash_flows_account_day", ["account_id", "flow_date"], unique=False
        )
        batch_op.create_index("ix_cash_flows_flow_date", ["flow_date"], unique=False)

    op.create_table(
        "mart_account_returns_daily",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("base_currency", sa.String(length=3), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("covered", sa.Boolean(), nullable=False),
        sa.Column("value_start", wealth_pipeline.warehouse.types.Amount(), nullable=True),
        sa.Column("value_end", wealth_pipeline.warehouse.types.Amount(), nullable=True),
        sa.Column("value_start_own", wealth_pipeline.warehouse.types.Amount(), nullable=False),
        sa.Column("rate_start", wealth_pipeline.warehouse.types.Rate(), nullable=True),
        sa.Column("rate_end", wealth_pipeline.warehouse.types.Rate(), nullable=True),
        sa.Column("external_flow", wealth_pipeline.warehouse.types.Amount(), nullable=True),
        sa.Column("paired_transfers", wealth_pipeline.warehouse.types.Amount(), nullable=True),
        sa.Column("income", wealth_pipeline.warehouse.types.Amount(), nullable=True),
        sa.Column("costs", wealth_pipeline.warehouse.types.Amount(), nullable=True),
        sa.Column("market_result", wealth_pipeline.warehouse.types.Amount(), nullable=True),
        sa.Column("currency_effect", wealth_pipeline.warehouse.types.Amount(), nullable=True),
        sa.Column("unexplained", wealth_pipeline.warehouse.types.Amount(), nullable=True),
        sa.Column("daily_return", sa.Float(), nullable=True),
        sa.Column("twr_index", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["financial_accounts.id"],
            name=op.f("fk_mart_account_returns_daily_account_id_financial_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_mart_account_returns_daily_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "user_id", "day", "account_id", name=op.f("pk_mart_account_returns_daily")
        ),
    )


def downgrade() -> None:

    op.drop_table("mart_account_returns_daily")
    with op.batch_alter_table("cash_flows", schema=None) as batch_op:
        batch_op.drop_index("ix_cash_flows_flow_date")
        batch_op.drop_index("ix_cash_flows_account_day")

    op.drop_table("cash_flows")
    op.drop_table("cash_flow_coverage")
    op.drop_table("mart_returns_daily")
