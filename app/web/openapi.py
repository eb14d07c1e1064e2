"""The published OpenAPI document: FastAPI's, plus the error contract of SPEC §3 and §4.

FastAPI documents a 422 for validation; this service answers 400. Every `/api/` operation can
also answer 401 (no or unknown key), 403 (scope or team), 404 (team or object) and 503
(database down), and operations with a body 413 and 415. Rather than repeating that on every
route, it is added here once, with PostHog's error shape.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from pydantic import BaseModel

from app.providers.names import accepted_names
from app.web.openapi_examples import REQUEST_EXAMPLES, RESPONSE_EXAMPLES
from app.web.openapi_samples import COMPONENT_EXAMPLES
from app.web.pagination import MAX_LIMIT, ORDER_BY_CHOICES


class ErrorBody(BaseModel):
    """PostHog's error shape, for the OpenAPI document."""

    type: str
    code: str
    detail: str
    attr: str | None = None


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` entries documenting the error shape for the given statuses."""
    descriptions = {
        400: "Validation error",
        401: "Missing or unknown API key",
        403: "Missing scope or team not accessible",
        404: "Not found",
        405: "Method not allowed",
        413: "Body too large",
        415: "Unsupported media type",
        429: "Throttled",
        502: "Upstream provider failed",
        503: "Database unavailable",
        504: "Upstream provider timed out",
    }
    return {
        status: {"model": ErrorBody, "description": descriptions.get(status, "Error")}
        for status in statuses
    }


ERROR_REF = {"$ref": "#/components/schemas/ErrorBody"}

COMMON_ERRORS = {
    "400": "Validation error (bad body, query parameter or path value).",
    "401": "No or unknown personal API key.",
    "403": "The key lacks the scope, or the team is not accessible to it.",
    "404": "The team or the object does not exist (or belongs to another team).",
    "503": "The database is unavailable; retry shortly.",
}
BODY_ERRORS = {
    "413": "Request body larger than MAX_REQUEST_BYTES.",
    "415": "Content type other than JSON or form-encoded.",
}
HTTP_METHODS = ("get", "put", "post", "delete", "patch", "head", "options")


def operation_id(route: APIRoute) -> str:
    """Stable operation ids: the handler's name (`list_datasets`, `create_dataset`, …)."""
    return route.name


def _error_response(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": ERROR_REF}}}


def _add_error_contract(schema: dict[str, Any]) -> None:
    for path, item in schema.get("paths", {}).items():
        if not path.startswith("/api/"):
            continue
        for method in HTTP_METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            responses: dict[str, Any] = operation.setdefault("responses", {})
            responses.pop("422", None)
            errors = dict(COMMON_ERRORS)
            if "requestBody" in operation:
                errors.update(BODY_ERRORS)
            for status, description in errors.items():
                if status not in responses:
                    responses[status] = _error_response(description)
                elif "content" not in responses[status] and status != "405":
                    responses[status]["content"] = {"application/json": {"schema": ERROR_REF}}
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components["ErrorBody"] = ErrorBody.model_json_schema()
    for unused in ("HTTPValidationError", "ValidationError"):
        components.pop(unused, None)


# Query parameters and body fields that are parsed by hand (to word errors like PostHog) but take
# a closed set of values: the document names the set, so generated clients get enums.
PROVIDER_VALUES = accepted_names()
PARAMETER_ENUMS: dict[str, list[str]] = {
    "order_by": list(ORDER_BY_CHOICES),
    "provider": PROVIDER_VALUES,
}
WRITE_ONLY_FIELDS = frozenset({"api_key"})


def _refine_schemas(schema: dict[str, Any]) -> None:
    """Enums for hand-parsed parameters, read-only/write-only marks, and the seed's examples."""
    for item in schema.get("paths", {}).values():
        for method in HTTP_METHODS:
            for parameter in item.get(method, {}).get("parameters", []):
                values = PARAMETER_ENUMS.get(parameter["name"])
                if values is not None:
                    _set_enum(parameter["schema"], values)
    components: dict[str, Any] = schema.get("components", {}).get("schemas", {})
    for name, component in components.items():
        properties = component.get("properties", {})
        if "provider" in properties and name.endswith(("Create", "Request")):
            _set_enum(properties["provider"], PROVIDER_VALUES)
        for field in WRITE_ONLY_FIELDS & properties.keys():
            properties[field]["writeOnly"] = True
        if name.endswith("Read"):
            # A field of the read model that no write model accepts is read-only.
            stem = name.removesuffix("Read")
            writable: set[str] = set()
            for suffix in ("Create", "Update"):
                writable |= set(components.get(stem + suffix, {}).get("properties", {}))
            if writable:
                for field, spec in properties.items():
                    if field not in writable:
                        spec["readOnly"] = True
        if name in COMPONENT_EXAMPLES:
            component["examples"] = [COMPONENT_EXAMPLES[name]]


# The document's sections, in order. A route's own tag (runs of evaluations) wins over its
# router's (see `_tidy_operations`).
TAGS: list[dict[str, str]] = [
    {"name": "Datasets", "description": "Evaluation datasets. Scopes `dataset:read|write`."},
    {"name": "Dataset items", "description": "Items of a dataset. Scopes `dataset:read|write`."},
    {
        "name": "Provider keys",
        "description": "The team's LLM provider keys, validated live and encrypted at rest. "
        "Scopes `llm_provider_key:read|write`.",
    },
    {
        "name": "Provider key validations",
        "description": "Check a key with its provider without storing it.",
    },
    {"name": "Models", "description": "The models of a provider, or of one stored key."},
    {
        "name": "Evaluation config",
        "description": "Trial evaluations and the team's active provider key.",
    },
    {
        "name": "Evaluations",
        "description": "LLM-judge evaluations. Scopes `evaluation:read|write`.",
    },
    {"name": "Evaluation runs", "description": "Verdicts recorded for an evaluation."},
    {
        "name": "Evaluation summary",
        "description": "An AI-written summary of why runs pass or fail. Scope "
        "`llm_analytics:write`.",
    },
    {
        "name": "Experiments",
        "description": "A dataset run through LLM judges on the job queue, its results, "
        "provider-call ledger and comparisons. Scopes `evaluation:read|write`.",
    },
    {"name": "Operations", "description": "Health, readiness and Prometheus metrics."},
]
TAG_NAMES = [tag["name"] for tag in TAGS]
TEAM_PATH_EXAMPLE = "@current"
ACRONYMS = {"llm": "LLM", "api": "API", "id": "id"}
Examples = tuple[Mapping[str, dict[str, Any]], Mapping[str, Any]]
TEXT_RESPONSES = {"metrics": "text/plain; version=0.0.4; charset=utf-8"}


def humanize(operation_id: str) -> str:
    """`list_llm_models` → "List LLM models"."""
    words = [ACRONYMS.get(word, word) for word in operation_id.split("_")]
    return " ".join([words[0].capitalize(), *words[1:]])


def _tidy_operations(schema: dict[str, Any], examples: Examples) -> None:
    """One tag each, worded summaries, the team parameter's example, and every example."""
    for item in schema.get("paths", {}).values():
        for method in HTTP_METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            operation_id = operation["operationId"]
            operation["tags"] = operation.get("tags", [])[-1:]
            if operation.get("summary") == operation_id.replace("_", " ").title():
                operation["summary"] = humanize(operation_id)
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "path" and parameter["name"] == "environment_id":
                    parameter["example"] = TEAM_PATH_EXAMPLE
                elif parameter["in"] == "query" and parameter["name"] == "limit":
                    for option in parameter["schema"].get("anyOf", [parameter["schema"]]):
                        if option.get("type") == "integer":
                            option["maximum"] = MAX_LIMIT
            _add_examples(operation_id, operation, examples)


def _add_examples(operation_id: str, operation: dict[str, Any], examples: Examples) -> None:
    requests, responses = examples
    request = requests.get(operation_id)
    if request is not None and "requestBody" in operation:
        media = operation["requestBody"]["content"]["application/json"]
        media["examples"] = {operation_id: request}
    if operation_id not in responses:
        return
    for status, response in operation["responses"].items():
        if not status.startswith("2"):
            continue
        if operation_id in TEXT_RESPONSES:
            response["content"] = {TEXT_RESPONSES[operation_id]: {"schema": {"type": "string"}}}
        for media in response.get("content", {}).values():
            media["example"] = responses[operation_id]


def _set_enum(spec: dict[str, Any], values: list[str]) -> None:
    """Put `enum` on the string part of a (possibly nullable, possibly array) schema."""
    for option in spec.get("anyOf", [spec]):
        target = option.get("items", option) if option.get("type") == "array" else option
        if target.get("type") == "string":
            target["enum"] = values


def install_openapi(
    app: FastAPI,
    *,
    request_examples: Mapping[str, dict[str, Any]] | None = None,
    response_examples: Mapping[str, Any] | None = None,
) -> None:
    """The document, built once on first request. Features may bring examples of their own
    (keyed by operation id) on top of app/web/openapi_examples.py's; they are added after
    FastAPI renders the document, which would otherwise drop their `null` values."""
    examples = (
        {**REQUEST_EXAMPLES, **(request_examples or {})},
        {**RESPONSE_EXAMPLES, **(response_examples or {})},
    )

    def build() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
                tags=TAGS,
            )
            _add_error_contract(schema)
            _refine_schemas(schema)
            _tidy_operations(schema, examples)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = build  # type: ignore[method-assign]
