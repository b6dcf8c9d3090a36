"""Converting stored snapshots into their owners' base currencies, set-based.

`convert.convert_snapshots` (missing ones, or a whole scope), `convert.reconvert_user` (after a
base-currency change), `pending.check_pending` (the sensor's one query) and, in
`conversions.jobs`, the Dagster job and sensor around them.
"""

from wealth_pipeline.conversions.convert import convert_snapshots, reconvert_user
from wealth_pipeline.conversions.report import ConversionReport, Skipped

__all__ = ["ConversionReport", "Skipped", "convert_snapshots", "reconvert_user"]
