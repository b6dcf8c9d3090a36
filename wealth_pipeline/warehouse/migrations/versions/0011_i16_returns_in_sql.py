"""the returns marts computed in their SQL: PostgreSQL's running-product aggregate

`wealth_chain_product(double precision)`: the product of its inputs in the window's order
(float8mul, the `*` operator, from 1), so a time-weighted index chains day by day in one
window (SQLite gets the same function from the build's connection). The rows the marts hold
stay as they are: the SQL computes the same values the former Python step did.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03
"""

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE AGGREGATE wealth_chain_product(double precision) "
            "(SFUNC = float8mul, STYPE = double precision, INITCOND = '1')"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP AGGREGATE IF EXISTS wealth_chain_product(double precision)")
