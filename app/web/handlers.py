"""The exception handlers: every error leaves as PostHog's error shape (SPEC §4).

`install_error_handlers` maps our `APIError`s, request validation and Starlette's HTTP errors
to their responses, and tells a database outage (503) from a bug (a logged 500): only errors
raised by the database driver or its connection count as an outage, never any other `OSError`.
"""

from __future__ import annotations

import logging

import asyncpg
from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from app.web.error_key import add_error_key
from app.web.errors import (
    APIError,
    MethodNotAllowed,
    NotAuthenticated,
    NotFound,
    PayloadTooLarge,
    PermissionDenied,
    UnsupportedMediaType,
    UpstreamError,
    ValidationFailed,
    render,
)
from app.web.validation import validation_error_from_pydantic

logger = logging.getLogger("app.web.errors")


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
        if getattr(route, "refuses_method", False):
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


# Modules whose frames, when an `OSError` passes through them, make it a database outage: the
# driver itself and SQLAlchemy's engine and pool (which connect through the driver).
DATABASE_MODULES = ("asyncpg.", "sqlalchemy.")


def raised_by_database(exc: BaseException) -> bool:
    """Whether `exc` was raised inside the database driver or SQLAlchemy's engine/pool."""
    traceback = exc.__traceback__
    while traceback is not None:
        if str(traceback.tb_frame.f_globals.get("__name__", "")).startswith(DATABASE_MODULES):
            return True
        traceback = traceback.tb_next
    return False


def is_connection_failure(exc: BaseException) -> bool:
    """A socket or connection error on the way to the database (refused, reset, timed out,
    or PostgreSQL's Unix socket file gone while it is down). Any other `OSError`, such as a
    file the code failed to open, is a bug: a logged 500, not an outage."""
    return isinstance(exc, OSError) and raised_by_database(exc)


async def _os_error(request: Request, exc: Exception) -> Response:
    if is_connection_failure(exc):
        return await _database_unavailable(request, exc)
    return await _unhandled(request, exc)


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
    add_error_key(app)  # the summary endpoint's `error` key (SPEC §5.8), on every handler
