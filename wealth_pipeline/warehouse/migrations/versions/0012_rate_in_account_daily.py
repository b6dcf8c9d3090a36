"""the daily account mart carries its snapshot's exchange rate

`mart_account_daily.exchange_rate_used`: the rate the carried snapshot was converted at, so
the account returns mart reads a day's rate from the row it already reads instead of looking
the snapshot up again per row (issue 16's speed target). Derived data: the migration forgets
what was built (`mart_builds`), so the next build fills the new column everywhere.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

import wealth_pipeline.warehouse.types

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "mart_account_daily",
        sa.Column("exchange_rate_used", wealth_pipeline.warehouse.types.Rate(), nullable=True),
    )
    op.execute("DELETE FROM mart_builds")  # rebuild the marts from scratch


def downgrade() -> None:
    op.drop_column("mart_account_daily", "exchange_rate_used")  # SQLite >= 3.35: in place
    op.execute("DELETE FROM mart_builds")
