"""The marts: SQL models in `dbt_like_sql/` built into the `mart_*` tables the API and the
weekly report read (net worth per day and month, account values, breakdowns, holdings).

`build_marts(engine, as_of=..., full=..., users=...)` brings them up to date;
`marts.assets` makes one Dagster asset per model and the sensor that keeps them fresh.

What to rebuild is recorded by the writers, in their transaction (`snapshots.store`):
`record_account_change(connection, account_id, day, reason)` for a change to one account
(only its daily rows rebuild from `day`, the user-level marts from there) and
`record_mart_change(connection, user_id, day, reason)` for one to the whole user (every
account from `day`). `marts.build` describes the rules; `dbt_like_sql/README.md` how a model
reads the scope (`scope` per user, `scope_accounts` per account).
"""

from wealth_pipeline.marts.build import BuildReport, MartsError, build_marts
from wealth_pipeline.marts.models import ModelError

__all__ = ["BuildReport", "MartsError", "ModelError", "build_marts"]
