"""snapshot conversion note and the unconverted-snapshots index

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

UNCONVERTED = sa.text("balance_base_currency IS NULL")


def upgrade() -> None:
    op.add_column("account_snapshots", sa.Column("conversion_note", sa.Text(), nullable=True))
    op.create_index(
        "ix_account_snapshots_unconverted",
        "account_snapshots",
        ["snapshot_date"],
        unique=False,
        postgresql_where=UNCONVERTED,
        sqlite_where=UNCONVERTED,
    )


def downgrade() -> None:
    op.drop_index("ix_account_snapshots_unconverted", table_name="account_snapshots")
    with op.batch_alter_table("account_snapshots") as batch:
        batch.drop_column("conversion_note")
