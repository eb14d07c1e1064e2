"""The route class every `/api/` router uses, and the 405 catch-all for unsupported methods.

SPEC §3 fixes the order of checks: authentication, scope, team, method, content type, body and
query validation. FastAPI would parse the body before running dependencies, so this route
class reads and normalises the body up front but only *records* what is wrong with it; the team
dependency (`app.auth.dependencies`) raises the recorded error once the caller is known to be
allowed in. Bodies may be JSON or form-encoded, and an empty body reads as `{}`.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Coroutine, Iterable
from typing import Annotated, Any
from urllib.parse import parse_qsl

import orjson
from fastapi import APIRouter, FastAPI, Path, Request, Response
from fastapi import routing as fastapi_routing
from fastapi.dependencies.models import Dependant

from app.errors import APIError, MethodNotAllowed, UnsupportedMediaType, ValidationFailed
from app.openapi import operation_id

DEFERRED_ERROR = "llma.deferred_error"
ALWAYS_ALLOWED_QUERY = frozenset({"format"})


def _query_names(dependant: Dependant) -> set[str]:
    names = {param.alias for param in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return names


def _defer(request: Request, error: APIError) -> None:
    request.scope.setdefault(DEFERRED_ERROR, error)


def raise_deferred_error(request: Request) -> None:
    """Raise what the route class found wrong with the body or query, if anything."""
    error = request.scope.get(DEFERRED_ERROR)
    if error is not None:
        raise error


NUL_DETAIL = "Null characters are not allowed."


def _nul_path(value: Any, path: str = "") -> str | None:
    """Dotted path of the first string (or key) holding U+0000, which PostgreSQL cannot store."""
    if isinstance(value, str):
        return (path or None) if "\x00" in value else None
    items: Iterable[tuple[Any, Any]]
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        return None
    for key, child in items:
        child_path = f"{path}.{key}" if path else str(key)
        if isinstance(key, str) and "\x00" in key:
            return child_path
        found = _nul_path(child, child_path)
        if found is not None:
            return found
    return None


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


async def _normalised_body(request: Request) -> Request:
    raw = await request.body()
    media_type = _media_type(request)
    parsed: Any
    if not raw.strip():
        parsed = {}
    elif media_type in ("", "application/json") or media_type.endswith("+json"):
        try:
            parsed = orjson.loads(raw)
        except orjson.JSONDecodeError:
            _defer(request, ValidationFailed("JSON parse error.", code="parse_error"))
            parsed = {}
    elif media_type == "application/x-www-form-urlencoded":
        try:
            parsed = dict(parse_qsl(raw.decode("utf-8"), keep_blank_values=True))
        except UnicodeDecodeError:
            _defer(request, ValidationFailed("Form body is not valid UTF-8.", code="parse_error"))
            parsed = {}
    else:
        _defer(
            request,
            UnsupportedMediaType(f'Unsupported media type "{media_type}" in request.'),
        )
        parsed = {}
    if any(marker in raw for marker in (b"\\u0000", b"\x00", b"%00")):
        where = _nul_path(parsed)
        if where is not None:
            _defer(
                request,
                ValidationFailed(NUL_DETAIL, code="null_characters_not_allowed", attr=where),
            )
    if not isinstance(parsed, dict):
        _defer(
            request,
            ValidationFailed(
                "Invalid data. Expected a dictionary, but got "
                f"{type(parsed).__name__.replace('NoneType', 'null')}.",
                code="invalid",
            ),
        )
        parsed = {}
    # Hand FastAPI the parsed object: it will not decode the body a second time.
    headers = [(k, v) for k, v in request.scope["headers"] if k != b"content-type"]
    headers.append((b"content-type", b"application/json"))
    scope = dict(request.scope, headers=headers)
    normalised = Request(scope, request.receive)
    normalised._body = raw if raw.strip() else b"{}"
    normalised._json = parsed
    return normalised


class APIRoute(fastapi_routing.APIRoute):
    """Body normalisation and strict query parameters for every `/api/` endpoint."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        has_body = self.body_field is not None
        allowed = _query_names(self.dependant) | ALWAYS_ALLOWED_QUERY

        async def route_handler(request: Request) -> Response:
            if has_body:
                request = await _normalised_body(request)
            for name, value in request.query_params.multi_items():
                if "\x00" in value or "\x00" in name:
                    _defer(
                        request,
                        ValidationFailed(NUL_DETAIL, code="null_characters_not_allowed", attr=name),
                    )
            unknown = [name for name in request.query_params if name not in allowed]
            if unknown:
                listed = ", ".join(sorted(allowed - ALWAYS_ALLOWED_QUERY)) or "none"
                _defer(
                    request,
                    ValidationFailed(
                        f"Unknown query parameter '{unknown[0]}'. Allowed parameters: {listed}.",
                        code="invalid_parameter",
                        attr=unknown[0],
                    ),
                )
            return await handler(request)

        return route_handler


def _not_allowed_operation_id(method: str, path: str) -> str:
    """`destroy_datasets` for DELETE …/datasets/{id}/, like PostHog's `…_destroy`."""
    static = [part for part in path.split("/") if part and not part.startswith("{")]
    resource = "_".join(part for part in static if part not in ("api", "environments"))
    verb = "destroy" if method == "DELETE" else f"{method.lower()}_not_allowed"
    suffix = "" if path.rstrip("/").endswith("}") else "_collection"
    return f"{verb}_{resource}{suffix}"


def api_router(prefix: str, tag: str) -> APIRouter:
    return APIRouter(
        prefix=prefix, tags=[tag], route_class=APIRoute, generate_unique_id_function=operation_id
    )


def add_routes(app: FastAPI, router: APIRouter) -> None:
    """Put a router's routes on the app itself, in one flat list.

    `include_router` keeps each included router as a branch that FastAPI matches again at every
    level on every request (and walks to check for changes): measured at ~20 % of the CPU of a
    light request. The routers here carry their prefix, tags and route class already, so
    nothing is lost by adding their routes directly (their operation ids too: `api_router`).
    """
    app.router.routes.extend(router.routes)


ALL_METHODS = ("GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE")
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def method_not_allowed(
    router: APIRouter,
    path: str,
    *,
    read_scope: Any,
    write_scope: Any,
    allowed: Iterable[str],
    documented: Iterable[str] = (),
    description: str = "",
) -> None:
    """Answer 405 (empty body) for the methods `path` does not serve, after auth and team checks.

    `read_scope`/`write_scope` are the endpoint family's dependency aliases: SPEC §3 asks for
    the read scope for GET/HEAD/OPTIONS and the write scope for every other method, including
    methods the endpoint does not allow. Methods in `documented` appear in the OpenAPI document
    (the seed documents DELETE → 405 on datasets and items).
    """
    allowed_set = set(allowed)
    documented_set = set(documented)
    # Path parameters other than the team are declared so the document stays valid.
    names = [n for n in re.findall(r"{(\w+)}", router.prefix + path) if n not in TEAM_PARAMS]
    handlers = {
        kind: _not_allowed_handler(scope, names)
        for kind, scope in (("read", read_scope), ("write", write_scope))
    }

    for method in ALL_METHODS:
        if method in allowed_set:
            continue
        kind = "read" if method in READ_METHODS else "write"
        scope = read_scope if kind == "read" else write_scope
        router.add_api_route(
            path,
            handlers[kind],
            methods=[method],
            include_in_schema=method in documented_set,
            status_code=405,
            response_class=Response,
            summary="Hard delete is not allowed" if method == "DELETE" else "Not allowed",
            description=(description or NOT_ALLOWED_DESCRIPTION)
            + f"\n\nRequired API key scope: `{scope_name(scope)}`.",
            responses={405: {"description": "Method not allowed (no body)"}},
            name=f"{method.lower()}_not_allowed",
            operation_id=_not_allowed_operation_id(method, router.prefix + path),
        )


TEAM_PARAMS = ("environment_id", "project_id")
NOT_ALLOWED_DESCRIPTION = (
    'Hard delete of this model is not allowed. Use a PATCH call to set "deleted" to true.'
)


def scope_name(alias: Any) -> str:
    """The scope string behind a `DatasetRead`-style alias (for documentation)."""
    for meta in getattr(alias, "__metadata__", ()):
        scope = getattr(getattr(meta, "dependency", None), "scope", None)
        if scope:
            return str(scope)
    return "unknown"


def _not_allowed_handler(scope: Any, path_names: list[str]) -> Any:
    async def not_allowed(**_: Any) -> Response:
        raise MethodNotAllowed()

    parameters = [inspect.Parameter("context", inspect.Parameter.KEYWORD_ONLY, annotation=scope)]
    parameters += [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=Annotated[str, Path()])
        for name in path_names
    ]
    not_allowed.__signature__ = inspect.Signature(parameters, return_annotation=Response)  # type: ignore[attr-defined]
    return not_allowed
