"""brokers say how they sync: sync_mode (unattended | assisted | manual) and why (sync_note)

Existing rows get their mode here (VIAC, Morgan Stanley and Commerzbank need a person at
every fresh login); the next catalogue load (`wealth brokers load`) fills in the notes.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

ASSISTED = ("viac", "morganstanley", "commerzbank")


def upgrade() -> None:
    with op.batch_alter_table("brokers") as batch:
        batch.add_column(
            sa.Column("sync_mode", sa.String(12), nullable=False, server_default="unattended")
        )
        batch.add_column(sa.Column("sync_note", sa.Text(), nullable=False, server_default=""))
    brokers = sa.table(
        "brokers",
        sa.column("code", sa.String),
        sa.column("integration_type", sa.String),
        sa.column("supports_auto_sync", sa.Boolean),
        sa.column("sync_mode", sa.String),
    )
    op.execute(
        brokers.update()
        .where(brokers.c.code.in_(ASSISTED))
        .values(sync_mode="assisted", supports_auto_sync=False)
    )
    op.execute(
        brokers.update().where(brokers.c.integration_type == "manual").values(sync_mode="manual")
    )


def downgrade() -> None:
    with op.batch_alter_table("brokers") as batch:
        batch.drop_column("sync_note")
        batch.drop_column("sync_mode")
