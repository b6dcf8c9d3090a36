"""wealth-pipeline: a person's whole wealth, day by day, as a Dagster project."""

__version__ = "0.1.0"
