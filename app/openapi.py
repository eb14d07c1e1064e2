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
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = build  # type: ignore[method-assign]
