"""The route class every `/api/` router uses: body read up front, decoded after the checks.

SPEC §3 fixes the order of checks: authentication, scope, team, method, content type, body and
query validation. FastAPI would parse the body before running dependencies, so this route
class reads the body up front but decodes it (`app.web.bodies`) only when the team dependency
(`app.auth.dependencies`) has let the caller in, then raises what is wrong with the body or the
query. Bodies may be JSON or form-encoded, and an empty body reads as `{}`; FastAPI gets them
through a `Request` subclass (`DeferredBodyRequest`). The 405 routes are in `app.web.methods`.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

import anyio.to_thread
from fastapi import APIRouter, FastAPI, Request, Response
from fastapi import routing as fastapi_routing
from fastapi.dependencies.models import Dependant
from starlette.types import Receive, Scope

from app.web.bodies import (
    THREAD_THRESHOLD_BYTES,
    decode,
    is_decodable,
    media_type,
    nul_error,
    unsupported,
)
from app.web.errors import APIError, ValidationFailed
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
    dependencies have run: it gets a dict, still empty, which `validate_request` fills in.
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
    return DeferredBodyRequest(scope, request.receive, raw=b"{}" if empty else raw, parsed=holder)


class DeferredBodyRequest(Request):
    """The request FastAPI's handler sees: the body already read, its JSON decoded later.

    FastAPI's documented hook for custom body handling (a `Request` subclass handed on by a
    route class): it reads `body()` and, for JSON, `json()`, which answer from here.
    """

    def __init__(self, scope: Scope, receive: Receive, *, raw: bytes, parsed: Any) -> None:
        super().__init__(scope, receive)
        self.raw_body = raw
        self.parsed_body = parsed

    async def body(self) -> bytes:
        return self.raw_body

    async def json(self) -> Any:
        return self.parsed_body


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

    # Set on the routes that refuse a method (`app.web.methods`): they answer 405 whatever the
    # query says (SPEC §3: method before query), and `Allow` does not list them.
    refuses_method: bool = False

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        has_body = self.body_field is not None
        authenticates = _authenticates(self.dependant)
        allowed = _query_names(self.dependant) | ALWAYS_ALLOWED_QUERY

        async def route_handler(request: Request) -> Response:
            if has_body:
                request = await _read_body(request)
                if not authenticates:
                    await _decode_body(request)
            if not self.refuses_method:
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
