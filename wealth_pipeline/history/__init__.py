"""History: filling an account's past days from its broker, and the demo set-up.

`backfill` holds the logic (`backfill_history`), `jobs` the Dagster job and sensor, `demo`
the `wealth demo setup` work.
"""
