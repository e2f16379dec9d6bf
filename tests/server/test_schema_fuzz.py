"""schemathesis against the server's own OpenAPI schema: no request it can make is a 500.

Every operation of ``/openapi.json`` is called with cases schemathesis builds from the
schema, valid ones and invalid ones (wrong types, missing fields, bad paths), on a server
whose LLM is scripted. A 5xx fails the test with the case as a curl command. The fast run
tries a few cases an operation; ``--slow`` tries many. What earlier runs found is kept as
plain tests in ``test_hostile.py``.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

schemathesis = pytest.importorskip("schemathesis")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis.errors import Unsatisfiable  # noqa: E402

from tests.server.conftest import Server  # noqa: E402

LIVE_STREAMS = {"GET /ui/api/status/events"}
"""Operations that stream until the client leaves: nothing to fuzz, and every call would wait."""


def _server_errors(server: Server, examples: int) -> list[str]:
    schema = schemathesis.openapi.from_url(server.url + "/openapi.json")
    found: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.label in LIVE_STREAMS:
            continue
        for mode in schemathesis.GenerationMode:

            @settings(max_examples=examples, deadline=None, database=None, suppress_health_check=list(HealthCheck))
            @given(operation.as_strategy(generation_mode=mode))
            def call(case) -> None:
                reply = case.call(base_url=server.url, timeout=30)
                if reply.status_code >= 500:
                    found.append(f"{reply.status_code} {case.as_curl_command()}\n  {reply.text[:300]}")

            try:
                call()
            except Unsatisfiable:  # no invalid request of this operation exists (no parameters, no body)
                continue
    return found


@pytest.mark.parametrize("examples", [pytest.param(3, id="fast"), pytest.param(50, id="slow", marks=[pytest.mark.slow, pytest.mark.timeout(3600)])])
def test_no_request_the_schema_allows_or_breaks_is_a_500(make_server: Callable[..., Server], examples: int) -> None:
    server = make_server()
    found = _server_errors(server, examples)
    assert not found, "\n".join(found[:10])
