"""The APIError family and `render`, which turns one into PostHog's error shape (SPEC §4).

Handlers mapping exceptions to these live in `app.web.handlers`, Pydantic's errors worded the
DRF way in `app.web.validation`, and the error shape's OpenAPI model in `app.web.openapi`.

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

from typing import Any

from starlette.responses import Response

from app.web.jsonutil import JSONResponse


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


class APIErrorCarrier(ValueError):
    """Raise from a pydantic validator to choose the DRF `code` and exact `detail`."""

    def __init__(self, detail: str, code: str = "invalid") -> None:
        super().__init__(detail)
        self.detail = detail
        self.code = code


def render(error: APIError) -> Response:
    """The response for `error`: its JSON body, status and headers."""
    if isinstance(error, MethodNotAllowed) and error.empty_body:
        return Response(status_code=405, headers=error.headers)
    return JSONResponse(error.body(), status_code=error.status_code, headers=error.headers)
