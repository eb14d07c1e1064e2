"""The APIError family and the handlers that render PostHog's error shape (SPEC §4).

APIError                      {"type", "code", "detail", "attr"} with a status
├── ValidationFailed          400 validation_error
├── NotAuthenticated          401 authentication_error
├── PermissionDenied          403 authentication_error
├── NotFound                  404 invalid_request
├── MethodNotAllowed          405 invalid_request (+ Allow; empty body for a refused hard delete)
├── PayloadTooLarge           413 invalid_request
├── UnsupportedMediaType      415 invalid_request
├── Throttled                 429 throttled_error (+ Retry-After)
└── UpstreamError             502/503/504 server_error
"""

from __future__ import annotations

import inspect
import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import asyncpg
import orjson
from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from app.web.jsonutil import JSONResponse

logger = logging.getLogger("app.web.errors")


class APIError(Exception):
    status_code = 500
    type = "server_error"
    code = "error"
    default_detail = "A server error occurred."

    def __init__(
        self,
        detail: str | None = None,
        *,
        code: str | None = None,
        attr: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.detail = detail or self.default_detail
        if code is not None:
            self.code = code
        self.attr = attr
        self.headers = headers or {}
        super().__init__(self.detail)

    def body(self) -> dict[str, Any]:
        return {"type": self.type, "code": self.code, "detail": self.detail, "attr": self.attr}


class ValidationFailed(APIError):
    status_code = 400
    type = "validation_error"
    code = "invalid_input"
    default_detail = "Invalid input."


class NotAuthenticated(APIError):
    status_code = 401
    type = "authentication_error"
    code = "not_authenticated"
    default_detail = "Authentication credentials were not provided."


class PermissionDenied(APIError):
    status_code = 403
    type = "authentication_error"
    code = "permission_denied"
    default_detail = "You do not have permission to perform this action."


class NotFound(APIError):
    status_code = 404
    type = "invalid_request"
    code = "not_found"
    default_detail = "Not found."


class MethodNotAllowed(APIError):
    status_code = 405
    type = "invalid_request"
    code = "method_not_allowed"
    default_detail = "Method not allowed."

    def __init__(self, method: str | None = None, *, allow: str = "", empty_body: bool = False):
        super().__init__(
            f'Method "{method}" not allowed.' if method else None,
            headers={"Allow": allow} if allow else None,
        )
        # SPEC §4: DELETE on datasets, items and evaluations answers 405 with no body.
        self.empty_body = empty_body


class PayloadTooLarge(APIError):
    status_code = 413
    type = "invalid_request"
    code = "payload_too_large"
    default_detail = "Request body is too large."


class UnsupportedMediaType(APIError):
    status_code = 415
    type = "invalid_request"
    code = "unsupported_media_type"
    default_detail = "Unsupported media type in request."


class Throttled(APIError):
    status_code = 429
    type = "throttled_error"
    code = "throttled"

    def __init__(self, retry_after: int, detail: str | None = None) -> None:
        seconds = max(1, int(retry_after))
        super().__init__(
            detail or f"Request was throttled. Expected available in {seconds} seconds.",
            headers={"Retry-After": str(seconds)},
        )


class UpstreamError(APIError):
    """A dependency (provider, database) failed; the status says which way."""

    status_code = 502
    type = "server_error"
    code = "upstream_error"
    default_detail = "The upstream service failed."

    def __init__(
        self, detail: str | None = None, *, status_code: int = 502, code: str | None = None
    ):
        super().__init__(detail, code=code)
        self.status_code = status_code


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


# --- rendering validation errors the way DRF words them --------------------------------------

_PYDANTIC_TO_DRF: dict[str, tuple[str, str | None]] = {
    "missing": ("required", "This field is required."),
    "string_too_long": ("max_length", None),
    "too_long": ("max_length", None),
    "string_too_short": ("blank", "This field may not be blank."),
    "too_short": ("min_length", None),
    "uuid_parsing": ("invalid", "Must be a valid UUID."),
    "uuid_type": ("invalid", "Must be a valid UUID."),
    "bool_parsing": ("invalid", "Must be a valid boolean."),
    "bool_type": ("invalid", "Must be a valid boolean."),
    "int_parsing": ("invalid", "A valid integer is required."),
    "int_type": ("invalid", "A valid integer is required."),
    "int_from_float": ("invalid", "A valid integer is required."),
    "datetime_parsing": ("invalid", None),
    "datetime_from_date_parsing": ("invalid", None),
    "datetime_type": ("invalid", None),
    "literal_error": ("invalid_choice", None),
    "enum": ("invalid_choice", None),
    "string_type": ("invalid", "Not a valid string."),
    "list_type": ("not_a_list", None),
    "dict_type": ("invalid", None),
    "model_type": ("invalid", None),
    "model_attributes_type": ("invalid", None),
    "json_invalid": ("parse_error", "JSON parse error."),
    "greater_than_equal": ("min_value", "Ensure this value is greater than or equal to {ge}."),
    "less_than_equal": ("max_value", "Ensure this value is less than or equal to {le}."),
    "greater_than": ("min_value", "Ensure this value is greater than {gt}."),
    "less_than": ("max_value", "Ensure this value is less than {lt}."),
}


def _attr_from_loc(loc: Sequence[int | str]) -> str | None:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    # Pydantic names union/function members in the location; they are not fields.
    parts = [p for p in parts if not p.startswith(("function-", "literal[", "union["))]
    return ".".join(parts) or None


def validation_error_from_pydantic(errors: Sequence[Any]) -> ValidationFailed:
    """Turn the first pydantic error into one DRF-style 400 with a dotted `attr`."""
    if not errors:
        return ValidationFailed()
    err = errors[0]
    kind = str(err.get("type", ""))
    attr = _attr_from_loc(err.get("loc", ()))
    code, detail = _PYDANTIC_TO_DRF.get(kind, ("invalid", None))
    if detail is None:
        message = str(err.get("msg", "Invalid input."))
        if message.startswith("Value error, "):
            message = message.removeprefix("Value error, ")
        if kind in ("literal_error", "enum"):
            message = f'"{err.get("input")}" is not a valid choice. {message}.'
        detail = message
    ctx = err.get("ctx") or {}
    template = _PYDANTIC_TO_DRF.get(kind, ("", None))[1]
    if template is not None and "{" in template:
        try:
            detail = template.format(**ctx)
        except (KeyError, IndexError, ValueError):
            detail = str(err.get("msg", "Invalid input."))
    if kind == "value_error" and isinstance(ctx.get("error"), APIErrorCarrier):
        carried = ctx["error"]
        code, detail = carried.code, carried.detail
    return ValidationFailed(detail, code=code, attr=attr)


class APIErrorCarrier(ValueError):
    """Raise from a pydantic validator to choose the DRF `code` and exact `detail`."""

    def __init__(self, detail: str, code: str = "invalid") -> None:
        super().__init__(detail)
        self.detail = detail
        self.code = code


# --- handlers --------------------------------------------------------------------------------


def render(error: APIError) -> Response:
    if isinstance(error, MethodNotAllowed) and error.empty_body:
        return Response(status_code=405, headers=error.headers)
    return JSONResponse(error.body(), status_code=error.status_code, headers=error.headers)


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, APIError)
    if exc.status_code >= 500:
        logger.warning("dependency failure: %s %s", exc.status_code, exc.detail)
    return render(exc)


async def _request_validation(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    return render(validation_error_from_pydantic(exc.errors()))


_STATUS_ERRORS: dict[int, type[APIError]] = {
    400: ValidationFailed,
    401: NotAuthenticated,
    403: PermissionDenied,
    404: NotFound,
    405: MethodNotAllowed,
    413: PayloadTooLarge,
    415: UnsupportedMediaType,
}


async def _http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 405:
        # A method no route of the path knows (TRACE, …).
        return render(MethodNotAllowed(request.method, allow=_served_methods(request)))
    error_cls = _STATUS_ERRORS.get(exc.status_code)
    if error_cls is None:
        error = APIError(str(exc.detail))
        error.status_code = exc.status_code
        error.type = "server_error" if exc.status_code >= 500 else "invalid_request"
        return render(error)
    return render(error_cls())


def _served_methods(request: Request) -> str:
    """The methods the routes of this path serve (not their 405 catch-alls), for `Allow`."""
    served: set[str] = set()
    for route in request.app.router.routes:
        if getattr(getattr(route, "endpoint", None), "refuses_method", False):
            continue
        if route.matches(request.scope)[0] is not Match.NONE:
            served |= set(getattr(route, "methods", None) or ())
    order = ("GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE")
    return ", ".join(method for method in order if method in served)


def database_unavailable(cause: BaseException) -> UpstreamError:
    """The 503 for a database that cannot serve the request now; logs the cause's type."""
    logger.warning("database unavailable: %s", type(cause).__name__)
    return UpstreamError(
        "The database is unavailable, please retry shortly.",
        status_code=503,
        code="database_unavailable",
    )


async def _database_unavailable(request: Request, exc: Exception) -> Response:
    return render(database_unavailable(exc))


# SQLSTATEs meaning "the database cannot serve you right now", not "this statement is wrong":
# class 08 (connection exception), class 53 (insufficient resources: too many connections,
# disk full) and 57P01-57P03 (admin or crash shutdown, "the database system is starting up" /
# "shutting down"). asyncpg raises these as plain PostgresErrors, which SQLAlchemy wraps in a
# bare DBAPIError, so the exception class alone cannot tell them from a bug.
_UNAVAILABLE_SQLSTATES = ("08", "53", "57P01", "57P02", "57P03")


def sqlstate_means_unavailable(sqlstate: object) -> bool:
    return str(sqlstate or "").startswith(_UNAVAILABLE_SQLSTATES)


def _database_is_unavailable(exc: DBAPIError) -> bool:
    if exc.connection_invalidated or isinstance(exc, OperationalError | InterfaceError):
        return True
    return sqlstate_means_unavailable(getattr(exc.orig, "sqlstate", None))


async def _database_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DBAPIError)
    if _database_is_unavailable(exc):
        return await _database_unavailable(request, exc)
    return await _unhandled(request, exc)


async def _unhandled(request: Request, exc: Exception) -> Response:
    logger.exception("unhandled error on %s %s", request.method, request.url.path)
    return render(APIError())


def _raised_by_driver(exc: BaseException) -> bool:
    traceback = exc.__traceback__
    while traceback is not None:
        if str(traceback.tb_frame.f_globals.get("__name__", "")).startswith("asyncpg."):
            return True
        traceback = traceback.tb_next
    return False


def _is_connection_failure(exc: BaseException) -> bool:
    # While PostgreSQL is down its Unix socket file is gone: connecting then raises
    # FileNotFoundError from asyncpg. Any other missing file is a bug, not an outage.
    if isinstance(exc, FileNotFoundError):
        return _raised_by_driver(exc)
    return isinstance(exc, ConnectionError | OSError)


async def _os_error(request: Request, exc: Exception) -> Response:
    if _is_connection_failure(exc):
        return await _database_unavailable(request, exc)
    return await _unhandled(request, exc)


# --- SPEC §5.8: every error body of the summary endpoint also carries `error` (= `detail`) ---
# Keyed on the path, so the errors rendered before a route runs or outside it (413 while the
# body is read, a method no route serves, a 500) carry it too; `/api/projects/…` and a missing
# slash as well, for the 500s rendered outside the path normalisation.
ERROR_KEY_PATH = re.compile(
    r"^/api/(?:environments|projects)/[^/]+/llm_analytics/evaluation_summary/?$"
)
Handler = Callable[[Request, Any], Response | Awaitable[Response]]


def _with_error_key(handler: Handler) -> Handler:
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
        return JSONResponse({**body, "error": body["detail"]}, response.status_code, headers)

    return handle


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(APIError, _api_error)
    app.add_exception_handler(RequestValidationError, _request_validation)
    app.add_exception_handler(StarletteHTTPException, _http_exception)
    app.add_exception_handler(PoolTimeoutError, _database_unavailable)
    # asyncpg's own "protocol out of step" error, which SQLAlchemy passes through untranslated:
    # seen when PostgreSQL goes away in the middle of a statement.
    app.add_exception_handler(asyncpg.InternalClientError, _database_unavailable)
    app.add_exception_handler(DBAPIError, _database_error)
    app.add_exception_handler(OSError, _os_error)
    app.add_exception_handler(Exception, _unhandled)
    for key, handler in list(app.exception_handlers.items()):
        app.exception_handlers[key] = _with_error_key(handler)  # SPEC §5.8, above
