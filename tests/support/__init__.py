"""Shared test infrastructure: scratch PostgreSQL, free ports, the protocol fakes, browser
helpers, the Dagster deployment, test doubles, data factories and the fixtures built on them.

The tests import it and so does `bench/`; it imports nothing from `bench/` or from a test
module (one direction only). tests/conftest.py registers its fixture modules as plugins.
"""
