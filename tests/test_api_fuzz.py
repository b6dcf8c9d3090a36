"""A schema-driven fuzz run of the whole API: schemathesis generates requests for every
operation of the OpenAPI document (fitting it, and not fitting it), sent with a valid token
to the fixed warehouse; no answer may be a server error, and every 2xx body must match its
documented schema."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import response_schema_conformance

from tests.support.api import (
    Api,
    bearer,
)

# Per operation, mode and database: bounded, so the whole run stays well under a minute.
EXAMPLES = 15
NO_INPUT = {"POST /api/session/refresh/", "POST /api/session/logout/"}


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_server_errors(api: Api, mode: GenerationMode) -> None:
    schema = schemathesis.openapi.from_asgi("/api/schema", api.client.app)
    headers = bearer(api.login()["access"])
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 23  # with logout, the performance and an account's flows

    for operation in operations:

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def fuzz(case) -> None:
            case.call_and_validate(
                headers=headers, checks=[not_a_server_error, response_schema_conformance]
            )

        try:
            fuzz()
        except Unsatisfiable:
            # An operation that takes no input (the session's refresh and logout read only
            # a cookie) has no request that does not fit it: nothing negative to send.
            assert mode is GenerationMode.NEGATIVE, operation.label
            assert operation.label in NO_INPUT, operation.label
