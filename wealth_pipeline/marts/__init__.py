"""The marts: SQL models in `dbt_like_sql/` built into the `mart_*` tables the API and the
weekly report read (net worth per day and month, account values, breakdowns, holdings).

`build_marts(engine, as_of=..., full=..., users=...)` brings them up to date;
`marts.assets` makes one Dagster asset per model and the sensor that keeps them fresh.
"""

from wealth_pipeline.marts.build import BuildReport, MartsError, build_marts
from wealth_pipeline.marts.models import ModelError

__all__ = ["BuildReport", "MartsError", "ModelError", "build_marts"]
