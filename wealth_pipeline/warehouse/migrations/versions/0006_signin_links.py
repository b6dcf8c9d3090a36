"""one-time dashboard sign-in links

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "signin_links",
        sa.Column("code_hash", sa.String(64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("credentials_version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True)),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name="fk_signin_links_user_id_users",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("code_hash", name="pk_signin_links"),
    )
    op.create_index("ix_signin_links_user_id", "signin_links", ["user_id"])


def downgrade() -> None:
    op.drop_index("ix_signin_links_user_id", table_name="signin_links")
    op.drop_table("signin_links")
