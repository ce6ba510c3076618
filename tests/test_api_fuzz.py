"""Schemathesis against the running server's ``/schema/openapi.json``: generated requests for
every operation (a bounded number each) never get a 5xx, and every error is a JSON
``{"error": {"code", "message"}}`` body.

Schemathesis is used as a library (``operation.as_strategy()`` under Hypothesis): its pytest
loader (``from_fixture``) does not run under pytest 9.
"""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, given, settings

from tests.auth_helpers import bearer, create_key
from tests.stack_fixtures import start_server

MAX_EXAMPLES = 30
"""Per operation: enough to reach the error paths, small enough for the suite."""


def test_generated_requests_get_no_5xx_and_json_errors(server) -> None:
    _fuzz_every_operation(server.http_url, {})


def test_with_keys_on_a_valid_key_gets_no_5xx_and_json_errors(triton, tmp_path) -> None:
    """The same run with ``TANDEM_AUTH=keys`` and a key holding every scope: nothing is refused as
    unauthorized, and the guard's own answers keep the error shape."""
    keyed = start_server(tmp_path / "keyed", triton.endpoints, TANDEM_AUTH="keys")
    try:
        key = create_key(keyed, "fuzz", "jobs:read,jobs:write,realtime,speakers,admin")
        _fuzz_every_operation(keyed.http_url, bearer(key))
    finally:
        keyed.stop()


def _fuzz_every_operation(base_url: str, headers: dict[str, str]) -> None:
    schema = schemathesis.openapi.from_url(f"{base_url}/schema/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 5, [o.label for o in operations]
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def check(case) -> None:
            response = case.call(base_url=base_url, headers=headers, timeout=30)
            request = f"{case.method} {response.request.url}"
            assert response.status_code < 500, f"{request} -> {response.status_code}: {response.text[:300]}"
            if headers:
                assert response.status_code != 401, f"{request} -> 401 with a valid key: {response.text[:300]}"
            if response.status_code >= 400:
                content_type = response.headers.get("content-type", [""])[0]  # header values are lists here
                assert content_type.startswith("application/json"), f"{request} -> {content_type}"
                body = response.json()
                assert isinstance(body.get("error"), dict), f"{request} -> {body}"
                error = body["error"]
                assert isinstance(error.get("code"), str) and isinstance(error.get("message"), str), body

        check()
