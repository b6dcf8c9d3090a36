"""The suite's configuration: its environment, and its fixtures registered as plugins.

The fixtures live in tests/support/ (shared with bench/); see tests/support/fixtures.py for
the warehouses (SQLite and the real PostgreSQL, which skips locally without a server and
fails in CI) and the local fakes.
"""

from __future__ import annotations

import os

import pytest

pytest.register_assert_rewrite("tests.support")

# The embedded default asks Frankfurter's public host for days after the shipped excerpt:
# tests never leave 127.0.0.1, so they run offline unless a test points it at a local fake.
os.environ.setdefault("WEALTH_OFFLINE", "true")
# Reporting command-line work to Dagster costs ~12 ms per partition on SQLite: only the tests
# of that reporting (and the browser and `up` tests) turn it on.
os.environ.setdefault("WEALTH_RECORD_IN_DAGSTER", "false")

pytest_plugins = [
    "tests.support.fixtures",
    "tests.support.api",
    "tests.support.cli",
    "tests.support.report",
    "tests.support.deployment",
    "tests.support.browser",
]
