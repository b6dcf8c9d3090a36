"""The daily sync: every due account's balance and positions for a day, converted and stored.

`due` picks the accounts, `account` syncs one account-day in one transaction, `runner` runs
them all with bounded concurrency, `assets` exposes it to Dagster (asset, job, schedule,
checks).
"""
