"""Schema-driven fuzzing (schemathesis + hypothesis) of every operation in /api/schema/.

Runs against a live server on loopback. For each operation, positive (schema-valid) and
negative (schema-violating) requests are generated and checked: no 5xx, every status code
documented, responses and content types as documented. Requests target the caller's own team
and, for `{id}` paths, both random ids and a real object, so they reach validation and lookup
rather than stopping at auth. The budget (`MAX_EXAMPLES`) keeps CI fast.
"""

from __future__ import annotations

from typing import Any

import httpx
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.fuzz.conftest import LiveServer

MAX_EXAMPLES = 25
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]
TEAM_PARAMS = ("environment_id", "project_id")


def _fixed_path_parameters(operation: Any, live_server: LiveServer) -> dict[str, str]:
    names = {p.name for p in operation.path_parameters}
    return {name: str(live_server.team_id) for name in TEAM_PARAMS if name in names}


def _fuzz(
    operation: Any, mode: GenerationMode, fixed: dict[str, str], live_server: LiveServer
) -> int:
    calls = 0
    headers = {"Authorization": f"Bearer {live_server.api_key}"}

    @given(case=operation.as_strategy(mode, path_parameters=fixed))
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Any) -> None:
        nonlocal calls
        calls += 1
        case.call_and_validate(
            base_url=live_server.base_url, headers=headers, checks=CHECKS, timeout=30
        )

    run()
    return calls


def test_no_input_breaks_the_service(live_server: LiveServer) -> None:
    document = httpx.get(f"{live_server.base_url}/api/schema/").json()
    schema = schemathesis.openapi.from_dict(document)
    failures: list[str] = []
    requests = 0
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        fixed = _fixed_path_parameters(operation, live_server)
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                requests += _fuzz(operation, mode, fixed, live_server)
            except Unsatisfiable:
                # Nothing to violate (no parameters, no body): negative mode has no inputs.
                assert mode is GenerationMode.NEGATIVE, operation.label
            except Exception as exc:  # collect every operation's failure, then report all
                failures.append(f"{operation.label} [{mode.value}]: {exc}")
    print(f"fuzzed {operations} operations with {requests} requests")  # noqa: T201
    assert operations >= 3
    assert not failures, "\n\n".join(failures)
