"""SPEC §5.8: every error body of the summary endpoint also carries `error` (= `detail`), for
clients written against the reference.

Keyed on the path, so errors rendered before a route runs or outside it (a 413 while the body
is read, a method no route serves, a 500) carry it too; `/api/projects/…` and a missing slash
as well, for the 500s rendered outside the path normalisation.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from fastapi import FastAPI, Request, Response

from app.web.jsonutil import JSONResponse

ERROR_KEY_PATH = re.compile(
    r"^/api/(?:environments|projects)/[^/]+/llm_analytics/evaluation_summary/?$"
)
Handler = Callable[[Request, Any], Response | Awaitable[Response]]


def with_error_key(body: dict[str, Any]) -> dict[str, Any]:
    """The error body with `error` added (unchanged when there is no `detail`)."""
    if "detail" not in body or "error" in body:
        return body
    return {**body, "error": body["detail"]}


def _wrapped(handler: Handler) -> Handler:
    async def handle(request: Request, exc: Exception) -> Response:
        response = handler(request, exc)
        if inspect.isawaitable(response):
            response = await response
        if request.scope["type"] != "http" or not ERROR_KEY_PATH.match(request.url.path):
            return response
        if response.media_type != JSONResponse.media_type:
            return response
        body = orjson.loads(bytes(response.body))
        if not isinstance(body, dict) or "detail" not in body or "error" in body:
            return response
        headers = {
            name: value
            for name, value in response.headers.items()
            if name not in ("content-length", "content-type")
        }
        return JSONResponse(with_error_key(body), response.status_code, headers)

    return handle


def add_error_key(app: FastAPI) -> None:
    """Wrap every installed exception handler (call after installing them)."""
    for key, handler in list(app.exception_handlers.items()):
        app.exception_handlers[key] = _wrapped(handler)
