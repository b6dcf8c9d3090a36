"""the provisional-conversions index: snapshots converted at an older day's rate

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

OLDER_RATE = sa.text("rate_date < snapshot_date")


def upgrade() -> None:
    op.create_index(
        "ix_account_snapshots_provisional",
        "account_snapshots",
        ["snapshot_date"],
        unique=False,
        postgresql_where=OLDER_RATE,
        sqlite_where=OLDER_RATE,
    )


def downgrade() -> None:
    op.drop_index("ix_account_snapshots_provisional", table_name="account_snapshots")
