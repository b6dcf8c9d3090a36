"""the projection: goals, projection settings, and the weekly projection's results

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

import wealth_pipeline.warehouse.types

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

Amount = wealth_pipeline.warehouse.types.Amount


def _timestamps() -> list[sa.Column]:
    return [
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
    ]


def _user(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["user_id"], ["users.id"], name=op.f(f"fk_{table}_user_id_users"), ondelete="CASCADE"
    )


def _bands() -> list[sa.Column]:
    return [
        sa.Column(name, Amount(), nullable=False) for name in ("p5", "p25", "p50", "p75", "p95")
    ]


def upgrade() -> None:
    op.create_table(
        "goals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("target", Amount(), nullable=False),
        sa.Column("target_date", sa.Date(), nullable=False),
        *_timestamps(),
        sa.CheckConstraint("target > 0", name=op.f("ck_goals_target_positive")),
        _user("goals"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_goals")),
        sa.UniqueConstraint("user_id", "name", name=op.f("uq_goals_user_id_name")),
    )
    op.create_table(
        "projection_settings",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("yearly_spending", Amount(), nullable=True),
        sa.Column("birth_year", sa.Integer(), nullable=True),
        sa.Column("plan_until_age", sa.Integer(), nullable=True),
        sa.Column("monthly_saving", Amount(), nullable=True),
        sa.Column("saving_change_date", sa.Date(), nullable=True),
        sa.Column("saving_after_change", Amount(), nullable=True),
        *_timestamps(),
        sa.CheckConstraint(
            "yearly_spending IS NULL OR yearly_spending > 0",
            name=op.f("ck_projection_settings_spending_positive"),
        ),
        sa.CheckConstraint(
            "plan_until_age IS NULL OR (plan_until_age > 0 AND plan_until_age <= 130)",
            name=op.f("ck_projection_settings_plan_until_age_range"),
        ),
        _user("projection_settings"),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_projection_settings")),
    )
    op.create_table(
        "projection_runs",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("week", sa.String(length=8), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("base_currency", sa.String(length=3), nullable=False),
        sa.Column("start_wealth", Amount(), nullable=False),
        sa.Column("monthly_saving", Amount(), nullable=False),
        sa.Column("method", sa.String(length=20), nullable=False),
        sa.Column("seed", sa.String(length=40), nullable=False),
        sa.Column("inputs", sa.JSON(), nullable=False),
        sa.Column("stop_working", sa.JSON(), nullable=True),
        sa.Column(
            "computed_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        _user("projection_runs"),
        sa.PrimaryKeyConstraint("user_id", "week", name=op.f("pk_projection_runs")),
    )
    op.create_table(
        "projection_bands",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("week", sa.String(length=8), nullable=False),
        sa.Column("month", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        *_bands(),
        _user("projection_bands"),
        sa.PrimaryKeyConstraint("user_id", "week", "month", name=op.f("pk_projection_bands")),
    )
    op.create_table(
        "projection_goal_results",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("week", sa.String(length=8), nullable=False),
        sa.Column("goal_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("target", Amount(), nullable=False),
        sa.Column("target_date", sa.Date(), nullable=False),
        sa.Column("paths", sa.Integer(), nullable=False),
        sa.Column("paths_reaching", sa.Integer(), nullable=False),
        sa.Column("median_date", sa.Date(), nullable=True),
        sa.Column("saving_for_50", Amount(), nullable=True),
        sa.Column("saving_for_80", Amount(), nullable=True),
        *_bands(),
        _user("projection_goal_results"),
        sa.ForeignKeyConstraint(
            ["goal_id"],
            ["goals.id"],
            name=op.f("fk_projection_goal_results_goal_id_goals"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "user_id", "week", "goal_id", name=op.f("pk_projection_goal_results")
        ),
    )


def downgrade() -> None:
    for table in (
        "projection_goal_results",
        "projection_bands",
        "projection_runs",
        "projection_settings",
        "goals",
    ):
        op.drop_table(table)
