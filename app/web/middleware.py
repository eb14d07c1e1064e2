"""Pure-ASGI middleware: path normalisation, body size limit, request ids, access log, metrics."""

from __future__ import annotations

import logging
import re
import time
import uuid
from typing import Any

from starlette.responses import Response
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app import metrics
from app.logging import request_id_var
from app.web.error_key import ERROR_KEY_PATH, with_error_key
from app.web.errors import PayloadTooLarge, render
from app.web.jsonutil import JSONResponse
from app.web.pagination import ORIGINAL_PATH

logger = logging.getLogger("app.access")

_PROJECTS = re.compile(r"^/api/projects/")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._\-]{1,128}$")
# SPEC §5.8: every error of the summary endpoint also carries `error` (= `detail`).


class PathNormalizer:
    """`/api/projects/…` is served as `/api/environments/…`; a missing trailing slash is added.

    Both rewrites happen in place (no redirect), before routing.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path: str = scope["path"]
            if path.startswith("/api/"):
                scope = dict(scope)
                scope[ORIGINAL_PATH] = path
                if path.startswith("/api/projects/"):
                    path = _PROJECTS.sub("/api/environments/", path, count=1)
                if not path.endswith("/"):
                    path += "/"
                scope["path"] = path
                scope["raw_path"] = path.encode("utf-8")
        await self.app(scope, receive, send)


# Bulk item import streams its body at constant memory and limits each line and the line
# count instead (issue 15; app/datasets/bulk_router.py): no overall body limit there.
UNLIMITED_BODY_PATHS = re.compile(r"^/api/environments/[^/]+/datasets/[^/]+/items/import/$")


class BodySizeLimit:
    """Answer 413 before reading a body larger than `max_bytes` (declared or streamed)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or UNLIMITED_BODY_PATHS.match(scope["path"]):
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = 0
                if declared > self.max_bytes:
                    await _too_large(scope)(scope, receive, send)
                    return
        received = 0
        too_large = False
        response_started = False

        async def limited_receive() -> Message:
            nonlocal received, too_large
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    too_large = True
                    raise _BodyTooLarge()
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _BodyTooLarge:
            if not response_started:
                await _too_large(scope)(scope, receive, send)


class _BodyTooLarge(PayloadTooLarge):
    """Raised from `receive` inside the app, whose error handlers render it as any 413."""


def _too_large(scope: Scope) -> Response:
    error = PayloadTooLarge()
    if not ERROR_KEY_PATH.match(scope["path"]):
        return render(error)
    return JSONResponse(with_error_key(error.body()), status_code=error.status_code)


class RequestContext:
    """Request id (accepted from X-Request-ID or made up), access log line, Prometheus metrics."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.requests = metrics.HTTP_REQUESTS
        self.latency = metrics.HTTP_LATENCY

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = None
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                incoming = value.decode("latin-1")
                break
        request_id = incoming if incoming and _REQUEST_ID.match(incoming) else uuid.uuid4().hex
        token = request_id_var.set(request_id)
        status = 500
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = _route_template(scope)
            method = scope["method"]
            self.requests.labels(method, route, str(status)).inc()
            self.latency.labels(method, route).observe(elapsed)
            logger.info(
                "%s %s %s %.1fms",
                method,
                scope.get(ORIGINAL_PATH, scope["path"]),
                status,
                elapsed * 1000,
                extra={"status": status, "duration_ms": round(elapsed * 1000, 2), "route": route},
            )
            request_id_var.reset(token)


def _route_template(scope: Scope) -> str:
    route: Any = scope.get("route")
    if route is not None and hasattr(route, "path"):
        return str(route.path)
    app = scope.get("app")
    router = getattr(app, "router", None)
    if router is not None:
        for candidate in router.routes:
            match, _ = candidate.matches(scope)
            if match != Match.NONE:
                return str(getattr(candidate, "path", "unmatched"))
    return "unmatched"
