"""The route class every `/api/` router uses, and the 405 catch-all for unsupported methods.

SPEC §3 fixes the order of checks: authentication, scope, team, method, content type, body and
query validation. FastAPI would parse the body before running dependencies, so this route
class reads the body up front but decodes it (`app.bodies`) only when the team dependency
(`app.auth.dependencies`) has let the caller in, then raises what is wrong with the body or the
query. Bodies may be JSON or form-encoded, and an empty body reads as `{}`.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Coroutine, Iterable
from typing import Annotated, Any

import anyio.to_thread
from fastapi import APIRouter, FastAPI, Path, Request, Response
from fastapi import routing as fastapi_routing
from fastapi.dependencies.models import Dependant

from app.web.bodies import (
    THREAD_THRESHOLD_BYTES,
    decode,
    is_decodable,
    media_type,
    nul_error,
    unsupported,
)
from app.web.errors import APIError, MethodNotAllowed, ValidationFailed
from app.web.openapi import operation_id

DEFERRED_ERROR = "llma.deferred_error"
PENDING_BODY = "llma.pending_body"
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


async def _read_body(request: Request) -> Request:
    """Read the body now, decode it only once the caller is let in (`validate_request`).

    FastAPI takes the object `request.json()` returns as the body and validates it after the
    dependencies have run: it gets an empty dict here, which `validate_request` fills in.
    """
    raw = await request.body()
    empty = not raw.strip()
    media = media_type(request.headers.get("content-type", ""))
    holder: dict[str, Any] = {}
    if not empty and is_decodable(media):
        request.scope[PENDING_BODY] = (raw, media, holder)
    elif not empty:
        _defer(request, unsupported(media))
    # Hand FastAPI the (to be filled) dict: it will not decode the body itself.
    headers = [(k, v) for k, v in request.scope["headers"] if k != b"content-type"]
    headers.append((b"content-type", b"application/json"))
    scope = dict(request.scope, headers=headers)
    normalised = Request(scope, request.receive)
    normalised._body = b"{}" if empty else raw
    normalised._json = holder
    return normalised


async def _decode_body(request: Request) -> None:
    pending = request.scope.pop(PENDING_BODY, None)
    if pending is None:
        return
    raw, media, holder = pending
    if len(raw) > THREAD_THRESHOLD_BYTES:
        # orjson holds the GIL while it parses, but the checks and form parsing are Python,
        # which a worker thread shares with the event loop instead of blocking it.
        parsed, error = await anyio.to_thread.run_sync(decode, raw, media)
    else:
        parsed, error = decode(raw, media)
    if error is not None:
        _defer(request, error)
    holder.update(parsed)


async def validate_request(request: Request) -> None:
    """Decode the body and raise what is wrong with it or the query, if anything.

    Called by the team dependency once the caller is authenticated and allowed in, so an
    anonymous body costs no parsing (SPEC §3's order).
    """
    await _decode_body(request)
    raise_deferred_error(request)


def _authenticates(dependant: Dependant) -> bool:
    """Whether a dependency of the route is a scope check (which calls `validate_request`)."""
    return any(
        getattr(sub.call, "scope", None) is not None or _authenticates(sub)
        for sub in dependant.dependencies
    )


class APIRoute(fastapi_routing.APIRoute):
    """Body normalisation and strict query parameters for every `/api/` endpoint."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        has_body = self.body_field is not None
        authenticates = _authenticates(self.dependant)
        allowed = _query_names(self.dependant) | ALWAYS_ALLOWED_QUERY
        # The 405 routes answer 405 whatever the query says (SPEC §3: method before query).
        check_query = not getattr(self.endpoint, "refuses_method", False)

        async def route_handler(request: Request) -> Response:
            if has_body:
                request = await _read_body(request)
                if not authenticates:
                    await _decode_body(request)
            if check_query:
                _check_query(request, allowed)
            return await handler(request)

        return route_handler


def _check_query(request: Request, allowed: frozenset[str] | set[str]) -> None:
    for name, value in request.query_params.multi_items():
        if "\x00" in value or "\x00" in name:
            _defer(request, nul_error(name))
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
    """Answer 405 for the methods `path` does not serve, after auth and team checks.

    `read_scope`/`write_scope` are the endpoint family's dependency aliases: SPEC §3 asks for
    the read scope for GET/HEAD/OPTIONS and the write scope for every other method, including
    methods the endpoint does not allow. Methods in `documented` appear in the OpenAPI document
    (the seed documents DELETE → 405 on datasets and items): a documented DELETE is SPEC §4's
    refused hard delete, whose 405 has an empty body. Every other 405 is a JSON error, and
    every 405 names the allowed methods in `Allow`.
    """
    allowed_set = set(allowed)
    documented_set = set(documented)
    allow = ", ".join(method for method in ALL_METHODS if method in allowed_set)
    # Path parameters other than the team are declared so the document stays valid.
    names = [n for n in re.findall(r"{(\w+)}", router.prefix + path) if n not in TEAM_PARAMS]

    for method in ALL_METHODS:
        if method in allowed_set:
            continue
        scope = read_scope if method in READ_METHODS else write_scope
        hard_delete = method == "DELETE" and method in documented_set
        router.add_api_route(
            path,
            _not_allowed_handler(scope, names, method, allow, hard_delete),
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
    """The scope string behind a `CanReadDatasets`-style alias (for documentation)."""
    for meta in getattr(alias, "__metadata__", ()):
        scope = getattr(getattr(meta, "dependency", None), "scope", None)
        if scope:
            return str(scope)
    return "unknown"


def _not_allowed_handler(
    scope: Any, path_names: list[str], method: str, allow: str, empty_body: bool
) -> Any:
    async def not_allowed(**_: Any) -> Response:
        raise MethodNotAllowed(method, allow=allow, empty_body=empty_body)

    # Marks the route for `APIRoute`: no query checks, the method is refused first.
    not_allowed.refuses_method = True  # type: ignore[attr-defined]
    parameters = [inspect.Parameter("context", inspect.Parameter.KEYWORD_ONLY, annotation=scope)]
    parameters += [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=Annotated[str, Path()])
        for name in path_names
    ]
    not_allowed.__signature__ = inspect.Signature(parameters, return_annotation=Response)  # type: ignore[attr-defined]
    return not_allowed
