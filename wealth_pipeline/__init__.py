"""wealth-pipeline: a person's whole wealth, day by day, as a Dagster project."""

__version__ = "0.1.0"

import warnings

# Dagster flags long-stable parameters as "beta" (`backfill_policy`, sensors' `owners`) on
# every load of the definitions; the noise hides warnings that matter.
warnings.filterwarnings(
    "ignore", message=r"Parameter `(backfill_policy|owners)` .* is currently in beta"
)
