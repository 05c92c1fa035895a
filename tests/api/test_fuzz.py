"""Fuzzing the whole API from its own OpenAPI schema (schemathesis): no request, valid or not,
is answered with a server error.

Requests go to the app in-process (ASGI) as an admin, so they get past authentication to the
handlers, on PostgreSQL (the stricter database: NUL in text, integer ranges). The examples
are derandomized and bounded, so CI runs the same ~1,300 requests every time in about 30 s;
set AUTOGLM_FUZZ_EXAMPLES (per operation and mode, default 25) higher for a deeper search.
"""

from __future__ import annotations

import os

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error

from tests.factories import User

MAX_EXAMPLES = int(os.environ.get("AUTOGLM_FUZZ_EXAMPLES", "25"))


@pytest.mark.parametrize("mode", list(schemathesis.GenerationMode), ids=str)
def test_no_request_is_a_server_error(
    api: TestClient, admin: User, published: str, mode: schemathesis.GenerationMode
) -> None:
    """`positive`: requests the schema allows; `negative`: requests it forbids (they must be
    refused with a 4xx, not crash)."""
    config = schemathesis.Config.from_dict({"headers": admin.headers})
    schema = schemathesis.openapi.from_asgi("/openapi.json", api.app, config=config)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 25
    for operation in operations:

        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy(mode))
        def run(case: schemathesis.Case) -> None:
            case.call_and_validate(checks=[not_a_server_error])

        try:
            run()
        except Unsatisfiable:  # nothing can be wrong with it (no parameters, no body)
            assert mode == schemathesis.GenerationMode.NEGATIVE, operation.label
