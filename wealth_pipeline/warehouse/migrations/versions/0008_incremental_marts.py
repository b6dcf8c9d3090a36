"""per-account mart changes; the two large marts without per-row foreign keys

- `mart_account_changes`: the earliest changed day per account (a change that concerns one
  account rebuilds only that account's daily rows, and the user-level models from there);
- `mart_changes.accounts_only`: whether the user's change row stands only for the accounts
  listed in `mart_account_changes` (False: every account of the user from its day);
- `mart_account_daily` and `mart_net_worth_daily` recreated without foreign keys (their
  per-row checks cost more than half of a full PostgreSQL build) and, on SQLite, WITHOUT
  ROWID (one B-tree in key order instead of a table plus its key index). Triggers remove a
  deleted user's or account's rows instead, as the cascades did. Both are derived data: the
  migration forgets what was built (`mart_builds`), so the next build makes them anew.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

import wealth_pipeline.warehouse.types

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

SQLITE_TRIGGERS = (
    "CREATE TRIGGER tr_users_forget_marts AFTER DELETE ON users BEGIN "
    "DELETE FROM mart_account_daily WHERE user_id = OLD.id; "
    "DELETE FROM mart_net_worth_daily WHERE user_id = OLD.id; END",
    "CREATE TRIGGER tr_financial_accounts_forget_marts AFTER DELETE ON financial_accounts "
    "BEGIN DELETE FROM mart_account_daily WHERE user_id = OLD.user_id "
    "AND account_id = OLD.id; END",
)
POSTGRES_TRIGGERS = (
    "CREATE FUNCTION wealth_forget_user_marts() RETURNS trigger LANGUAGE plpgsql AS $$ "
    "BEGIN DELETE FROM mart_account_daily WHERE user_id = OLD.id; "
    "DELETE FROM mart_net_worth_daily WHERE user_id = OLD.id; RETURN OLD; END $$",
    "CREATE TRIGGER tr_users_forget_marts AFTER DELETE ON users FOR EACH ROW "
    "EXECUTE FUNCTION wealth_forget_user_marts()",
    "CREATE FUNCTION wealth_forget_account_marts() RETURNS trigger LANGUAGE plpgsql AS $$ "
    "BEGIN DELETE FROM mart_account_daily WHERE user_id = OLD.user_id "
    "AND account_id = OLD.id; RETURN OLD; END $$",
    "CREATE TRIGGER tr_financial_accounts_forget_marts AFTER DELETE ON financial_accounts "
    "FOR EACH ROW EXECUTE FUNCTION wealth_forget_account_marts()",
)
DROP_SQLITE_TRIGGERS = (
    "DROP TRIGGER IF EXISTS tr_users_forget_marts",
    "DROP TRIGGER IF EXISTS tr_financial_accounts_forget_marts",
)
DROP_POSTGRES_TRIGGERS = (
    "DROP TRIGGER IF EXISTS tr_users_forget_marts ON users",
    "DROP TRIGGER IF EXISTS tr_financial_accounts_forget_marts ON financial_accounts",
    "DROP FUNCTION IF EXISTS wealth_forget_user_marts()",
    "DROP FUNCTION IF EXISTS wealth_forget_account_marts()",
)


def _large_marts(foreign_keys: bool) -> None:
    def references(table: str, column: str, target: str) -> list:
        if not foreign_keys:
            return []
        return [
            sa.ForeignKeyConstraint(
                [column],
                [f"{target}.id"],
                name=op.f(f"fk_{table}_{column}_{target}"),
                ondelete="CASCADE",
            )
        ]

    op.create_table(
        "mart_net_worth_daily",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("base_currency", sa.String(length=3), nullable=False),
        sa.Column("total_wealth", wealth_pipeline.warehouse.types.Amount(), nullable=False),
        sa.Column("account_count", sa.Integer(), nullable=False),
        sa.Column("unconverted_count", sa.Integer(), server_default="0", nullable=False),
        *references("mart_net_worth_daily", "user_id", "users"),
        sa.PrimaryKeyConstraint("user_id", "day", name=op.f("pk_mart_net_worth_daily")),
        sqlite_with_rowid=foreign_keys,
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
        *references("mart_account_daily", "user_id", "users"),
        *references("mart_account_daily", "account_id", "financial_accounts"),
        sa.PrimaryKeyConstraint("user_id", "day", "account_id", name=op.f("pk_mart_account_daily")),
        sqlite_with_rowid=foreign_keys,
    )


def upgrade() -> None:
    op.create_table(
        "mart_account_changes",
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("earliest_changed_day", sa.Date(), nullable=False),
        sa.Column("reason", sa.String(length=200), server_default="", nullable=False),
        sa.Column(
            "changed_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_mart_account_changes_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_mart_account_changes")),
    )
    with op.batch_alter_table("mart_changes") as batch_op:
        batch_op.add_column(
            sa.Column("accounts_only", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
    op.drop_table("mart_account_daily")
    op.drop_table("mart_net_worth_daily")
    _large_marts(foreign_keys=False)
    bind = op.get_bind()
    for statement in SQLITE_TRIGGERS if bind.dialect.name == "sqlite" else POSTGRES_TRIGGERS:
        op.execute(statement)
    op.execute("DELETE FROM mart_builds")  # rebuild the marts from scratch


def downgrade() -> None:
    bind = op.get_bind()
    drops = DROP_SQLITE_TRIGGERS if bind.dialect.name == "sqlite" else DROP_POSTGRES_TRIGGERS
    for statement in drops:
        op.execute(statement)
    op.drop_table("mart_account_daily")
    op.drop_table("mart_net_worth_daily")
    _large_marts(foreign_keys=True)
    op.execute("DELETE FROM mart_builds")
    with op.batch_alter_table("mart_changes") as batch_op:
        batch_op.drop_column("accounts_only")
    op.drop_table("mart_account_changes")
