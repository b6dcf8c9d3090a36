"""Converting stored snapshots into their owners' base currencies, set-based.

`convert.convert_snapshots` (missing ones, or a whole scope), `convert.reconvert_user` (after a
base-currency change), `pending.provisional` (a conversion a newer rate now supersedes); in
`conversions.assets` the `converted_snapshots` asset and its checks, in `conversions.jobs`
the per-user reconversion job.
"""

from wealth_pipeline.conversions.convert import convert_snapshots, reconvert_user
from wealth_pipeline.conversions.report import ConversionReport, Skipped

__all__ = ["ConversionReport", "Skipped", "convert_snapshots", "reconvert_user"]
