"""the daily net worth comes from the returns total's own sums

`mart_returns_daily` gains `unconverted_count` (the accounts whose carried snapshot has no
base-currency amount yet), so `mart_net_worth_daily` reads its day's total there instead of
summing every account-day a second time (issue 16's speed target). Derived data: the
migration forgets what was built (`mart_builds`), so the next build fills the new column.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "mart_returns_daily",
        sa.Column("unconverted_count", sa.Integer(), nullable=False, server_default="0"),
    )
    op.execute("DELETE FROM mart_builds")  # rebuild the marts from scratch


def downgrade() -> None:
    op.drop_column("mart_returns_daily", "unconverted_count")  # SQLite >= 3.35: in place
    op.execute("DELETE FROM mart_builds")
