"""the per-account returns live in the daily account mart's own rows

`mart_account_daily` gains where each day's change came from (coverage, the value at the
start, flows, income, costs, market result, currency effect, the change not explained, the
day's return and the index), computed by the same SELECT that carries each account's value
forward; `mart_account_returns_daily`, a second table with a row per account and day, goes
(issue 16's speed target: one sort and one write instead of two). The triggers of 0011 no
longer delete from it. Derived data: the migration forgets what was built (`mart_builds`),
so the next build fills the new columns everywhere.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03
"""

import importlib.util
from pathlib import Path
from types import ModuleType

import sqlalchemy as sa
from alembic import op

import wealth_pipeline.warehouse.types

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

AMOUNTS = (
    "value_start",
    "external_flow",
    "paired_transfers",
    "income",
    "costs",
    "market_result",
    "currency_effect",
    "unexplained",
)
RATIOS = ("daily_return", "twr_index")


def _migration_0011() -> ModuleType:
    """0011's triggers and table (the downgrade puts both back as 0011 made them)."""
    path = Path(__file__).with_name("0011_returns_in_sql.py")
    spec = importlib.util.spec_from_file_location("wealth_migration_0011", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    m0011 = _migration_0011()
    for statement in m0011._triggers(dialect, m0011.LARGE_MARTS, m0011.ACCOUNT_MARTS):
        op.execute(statement)
    op.drop_table("mart_account_returns_daily")
    op.add_column("mart_account_daily", sa.Column("covered", sa.Boolean(), nullable=True))
    for name in AMOUNTS:
        op.add_column(
            "mart_account_daily",
            sa.Column(name, wealth_pipeline.warehouse.types.Amount(), nullable=True),
        )
    for name in RATIOS:
        op.add_column("mart_account_daily", sa.Column(name, sa.Float(), nullable=True))
    op.execute("DELETE FROM mart_builds")  # rebuild the marts from scratch


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    m0011 = _migration_0011()
    for name in ("covered", *AMOUNTS, *RATIOS):
        op.drop_column("mart_account_daily", name)  # SQLite >= 3.35: in place
    m0011._account_returns(foreign_keys=False)
    returns = "mart_account_returns_daily"
    for statement in m0011._triggers(
        dialect, (*m0011.LARGE_MARTS, returns), (*m0011.ACCOUNT_MARTS, returns)
    ):
        op.execute(statement)
    op.execute("DELETE FROM mart_builds")
