"""The published OpenAPI document: FastAPI's, plus the error contract of SPEC §3 and §4.

FastAPI documents a 422 for validation; this service answers 400. Every `/api/` operation can
also answer 401 (no or unknown key), 403 (scope or team), 404 (team or object) and 503
(database down), and operations with a body 413 and 415. Rather than repeating that on every
route, it is added here once, with PostHog's error shape.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

from app.errors import ErrorBody

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
PROVIDER_VALUES = [
    "openai",
    "anthropic",
    "gemini",
    "google",
    "openrouter",
    "fireworks",
    "together_ai",
    "azure_openai",
    "openai_compatible",
]
PARAMETER_ENUMS: dict[str, list[str]] = {
    "order_by": ["created_at", "-created_at", "updated_at", "-updated_at"],
    "provider": PROVIDER_VALUES,
}
WRITE_ONLY_FIELDS = frozenset({"api_key"})

USER_EXAMPLE = {
    "id": 1,
    "uuid": "095be615-a8ad-4c33-8e9c-c7612fbf6c9f",
    "distinct_id": "d1b8f2c0-3e5f-4b7a-9a65-3f1f0f6f1d2e",
    "first_name": "Ada",
    "last_name": "Lovelace",
    "email": "ada@example.com",
    "is_email_verified": True,
    "hedgehog_config": None,
    "role_at_organization": "engineering",
}
EXAMPLES: dict[str, dict[str, Any]] = {
    "DatasetRead": {
        "id": "0193a7c2-5f3e-7d41-9a8e-2b7c1d4e5f60",
        "name": "Support answers",
        "description": "Hard customer questions",
        "metadata": {"owner": "qa"},
        "created_at": "2026-11-25T14:15:22.000000Z",
        "updated_at": "2026-11-25T14:15:22.000000Z",
        "deleted": False,
        "created_by": USER_EXAMPLE,
        "team": 1,
    },
    "DatasetItemRead": {
        "id": "0193a7c2-6a10-7b22-8c33-4d5e6f708192",
        "dataset": "0193a7c2-5f3e-7d41-9a8e-2b7c1d4e5f60",
        "input": {"question": "How do I reset my password?"},
        "output": {"answer": "Settings → Security → Reset password."},
        "metadata": None,
        "ref_trace_id": "trace-42",
        "ref_timestamp": "2026-11-25T14:15:22.000000Z",
        "ref_source_id": None,
        "deleted": False,
        "created_at": "2026-11-25T14:15:22.000000Z",
        "updated_at": "2026-11-25T14:15:22.000000Z",
        "created_by": USER_EXAMPLE,
        "team": 1,
    },
    "SummaryResponse": {
        "overall_assessment": (
            "Evaluations show generally good quality with some factual accuracy issues."
        ),
        "pass_patterns": [
            {
                "title": "Clear Communication",
                "description": "Responses consistently provided well-structured information",
                "frequency": "common",
                "example_reasoning": "The answer is organised in short, clear steps.",
                "example_generation_ids": ["gen_abc123", "gen_ghi789"],
            }
        ],
        "fail_patterns": [
            {
                "title": "Factual Errors",
                "description": "Some responses contained inaccurate information",
                "frequency": "occasional",
                "example_reasoning": "The refund window stated is wrong.",
                "example_generation_ids": ["gen_def456"],
            }
        ],
        "na_patterns": [],
        "recommendations": [
            "Implement fact-checking for critical claims",
            "Add source citations where applicable",
        ],
        "statistics": {"total_analyzed": 3, "pass_count": 2, "fail_count": 1, "na_count": 0},
    },
}


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
        if name in EXAMPLES:
            component["examples"] = [EXAMPLES[name]]


def _set_enum(spec: dict[str, Any], values: list[str]) -> None:
    """Put `enum` on the string part of a (possibly nullable, possibly array) schema."""
    for option in spec.get("anyOf", [spec]):
        target = option.get("items", option) if option.get("type") == "array" else option
        if target.get("type") == "string":
            target["enum"] = values


def install_openapi(app: FastAPI) -> None:
    def build() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
                tags=app.openapi_tags,
            )
            _add_error_contract(schema)
            _refine_schemas(schema)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = build  # type: ignore[method-assign]
