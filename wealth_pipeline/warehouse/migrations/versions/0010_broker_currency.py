"""brokers name their usual currency (default_currency), used when an account is added
without --currency

Existing catalogue rows get theirs here; the next catalogue load keeps them in step with
catalogue.json.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

USUAL = {
    "dkb": "EUR",
    "commerzbank": "EUR",
    "truewealth": "CHF",
    "viac": "CHF",
    "ibkr": "USD",
    "morganstanley": "USD",
    "demo": "EUR",
}


def upgrade() -> None:
    with op.batch_alter_table("brokers") as batch:
        batch.add_column(
            sa.Column("default_currency", sa.String(3), nullable=False, server_default="")
        )
    brokers = sa.table("brokers", sa.column("code", sa.String), sa.column("default_currency"))
    for code, currency in USUAL.items():
        op.execute(brokers.update().where(brokers.c.code == code).values(default_currency=currency))


def downgrade() -> None:
    with op.batch_alter_table("brokers") as batch:
        batch.drop_column("default_currency")
