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
# Argon2id as cheap as the settings allow (0.5 s per derivation at production strength, 1 ms
# here), for the tests and the `wealth` processes they start; tests of the defaults unset it.
for _name, _value in (("TIME_COST", "1"), ("MEMORY_KIB", "1024"), ("PARALLELISM", "1")):
    os.environ.setdefault(f"WEALTH_ARGON2_{_name}", _value)

pytest_plugins = [
    "tests.support.fixtures",
    "tests.support.api",
    "tests.support.cli",
    "tests.support.demo",
    "tests.support.report",
    "tests.support.deployment",
    "tests.support.browser",
]

# Fixtures that make a test slow by what they start: `-m "not e2e and not browser and not
# deploy"` leaves them out (the fast suite); the README's command and CI run everything.
MARKED_BY_FIXTURE = {"browser": "browser", "page": "browser", "dagster_deployment": "e2e"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        for fixture in getattr(item, "fixturenames", ()):
            if fixture in MARKED_BY_FIXTURE:
                item.add_marker(MARKED_BY_FIXTURE[fixture])
