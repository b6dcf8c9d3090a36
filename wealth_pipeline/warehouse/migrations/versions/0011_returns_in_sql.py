"""the returns marts computed in their SQL: PostgreSQL's running-product aggregate, and the
account returns mart without per-row foreign keys

- `wealth_chain_product(double precision)` (PostgreSQL): the product of its inputs in the
  window's order (float8mul, the `*` operator, from 1), so a time-weighted index chains day by
  day in one window (SQLite gets the same function from the build's connection);
- `mart_account_returns_daily` recreated as migration 0008 made the other two large marts:
  without foreign keys (on PostgreSQL their per-row checks cost about as much as computing the
  rows) and, on SQLite, WITHOUT ROWID. The triggers of 0008 now also remove a deleted user's
  or account's returns rows. Derived data: the migration forgets what was built
  (`mart_builds`), so the next build makes the marts anew.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

import wealth_pipeline.warehouse.types

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

LARGE_MARTS = ("mart_account_daily", "mart_net_worth_daily")
ACCOUNT_MARTS = ("mart_account_daily",)


def _triggers(dialect: str, user_marts: tuple[str, ...], account_marts: tuple[str, ...]) -> list:
    """Migration 0008's triggers, deleting from the given marts."""
    user_deletes = " ".join(f"DELETE FROM {t} WHERE user_id = OLD.id;" for t in user_marts)
    account_deletes = " ".join(
        f"DELETE FROM {t} WHERE user_id = OLD.user_id AND account_id = OLD.id;"
        for t in account_marts
    )
    if dialect == "sqlite":
        return [
            "DROP TRIGGER IF EXISTS tr_users_forget_marts",
            "DROP TRIGGER IF EXISTS tr_financial_accounts_forget_marts",
            f"CREATE TRIGGER tr_users_forget_marts AFTER DELETE ON users BEGIN {user_deletes} END",
            "CREATE TRIGGER tr_financial_accounts_forget_marts AFTER DELETE ON financial_accounts "
            f"BEGIN {account_deletes} END",
        ]
    return [
        "CREATE OR REPLACE FUNCTION wealth_forget_user_marts() RETURNS trigger LANGUAGE plpgsql "
        f"AS $$ BEGIN {user_deletes} RETURN OLD; END $$",
        "CREATE OR REPLACE FUNCTION wealth_forget_account_marts() RETURNS trigger "
        f"LANGUAGE plpgsql AS $$ BEGIN {account_deletes} RETURN OLD; END $$",
    ]


def _account_returns(foreign_keys: bool) -> None:
    references = (
        [
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
        ]
        if foreign_keys
        else []
    )
    amount = wealth_pipeline.warehouse.types.Amount
    rate = wealth_pipeline.warehouse.types.Rate
    op.create_table(
        "mart_account_returns_daily",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("base_currency", sa.String(length=3), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("covered", sa.Boolean(), nullable=False),
        sa.Column("value_start", amount(), nullable=True),
        sa.Column("value_end", amount(), nullable=True),
        sa.Column("value_start_own", amount(), nullable=False),
        sa.Column("rate_start", rate(), nullable=True),
        sa.Column("rate_end", rate(), nullable=True),
        sa.Column("external_flow", amount(), nullable=True),
        sa.Column("paired_transfers", amount(), nullable=True),
        sa.Column("income", amount(), nullable=True),
        sa.Column("costs", amount(), nullable=True),
        sa.Column("market_result", amount(), nullable=True),
        sa.Column("currency_effect", amount(), nullable=True),
        sa.Column("unexplained", amount(), nullable=True),
        sa.Column("daily_return", sa.Float(), nullable=True),
        sa.Column("twr_index", sa.Float(), nullable=True),
        *references,
        sa.PrimaryKeyConstraint(
            "user_id", "day", "account_id", name=op.f("pk_mart_account_returns_daily")
        ),
        sqlite_with_rowid=foreign_keys,
    )


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute(
            "CREATE AGGREGATE wealth_chain_product(double precision) "
            "(SFUNC = float8mul, STYPE = double precision, INITCOND = '1')"
        )
    op.drop_table("mart_account_returns_daily")
    _account_returns(foreign_keys=False)
    returns = "mart_account_returns_daily"
    for statement in _triggers(dialect, (*LARGE_MARTS, returns), (*ACCOUNT_MARTS, returns)):
        op.execute(statement)
    op.execute("DELETE FROM mart_builds")  # rebuild the marts from scratch


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    for statement in _triggers(dialect, LARGE_MARTS, ACCOUNT_MARTS):
        op.execute(statement)
    op.drop_table("mart_account_returns_daily")
    _account_returns(foreign_keys=True)
    if dialect == "postgresql":
        op.execute("DROP AGGREGATE IF EXISTS wealth_chain_product(double precision)")
    op.execute("DELETE FROM mart_builds")
