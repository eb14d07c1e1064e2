"""`limit`/`offset` (and keyset `cursor`) paging → `{count, next, previous, results}` (SPEC §4)."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Annotated, Any, Generic, TypeVar
from urllib.parse import urlencode

import orjson
from fastapi import Depends, Query, Request
from pydantic import BaseModel

from app.web.deps import get_settings_dep
from app.web.errors import ValidationFailed

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
MAX_BIGINT = 2**63 - 1
ORIGINAL_PATH = "llma.original_path"

# The `order_by` values the lists take (the datasets'; the OpenAPI document names them as an enum).
ORDER_BY_CHOICES = ("created_at", "-created_at", "updated_at", "-updated_at")

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    count: int
    next: str | None = None
    previous: str | None = None
    results: list[T]


@dataclass(frozen=True)
class PageParams:
    limit: int
    offset: int


async def page_params(
    limit: Annotated[
        int | None,
        Query(
            ge=0,
            le=MAX_BIGINT,
            # The document says `maximum: 1000` (app.openapi); a larger value is accepted and
            # served as 1000, like PostHog's paginator.
            description=f"Number of results per page: default {DEFAULT_LIMIT} (also for 0), at "
            f"most {MAX_LIMIT}. A larger value is not an error: the page holds {MAX_LIMIT} "
            "results and `next` continues from there.",
            examples=[DEFAULT_LIMIT],
        ),
    ] = None,
    offset: Annotated[
        int | None,
        Query(
            ge=0,
            le=MAX_BIGINT,  # PostgreSQL's OFFSET is a bigint
            description="The initial index from which to return the results (default 0; at "
            f"most {MAX_BIGINT}, PostgreSQL's bigint).",
        ),
    ] = None,
) -> PageParams:
    # A bad value is a 400 with `attr` (FastAPI's validation, rendered by app.errors), and
    # it is reported only after the auth checks, which run first.
    if not limit:
        limit = DEFAULT_LIMIT
    return PageParams(limit=min(limit, MAX_LIMIT), offset=offset or 0)


Pagination = Annotated[PageParams, Depends(page_params)]


def _origin(request: Request) -> str:
    """Where links point: PUBLIC_BASE_URL, else the request's own origin when its Host is one of
    ALLOWED_HOSTS, else nothing (a relative link): never a host the client made up."""
    settings = get_settings_dep(request)
    if settings.public_base_url:
        return str(settings.public_base_url).rstrip("/")
    if settings.host_is_allowed(request.url.hostname or ""):
        return str(request.base_url).rstrip("/")
    return ""


def _url_with(request: Request, updates: dict[str, str | None]) -> str:
    path = request.scope.get(ORIGINAL_PATH, request.url.path)
    base = _origin(request) + path
    items: list[tuple[str, str]] = [
        (k, v) for k, v in request.query_params.multi_items() if k not in updates
    ]
    items += [(k, v) for k, v in updates.items() if v is not None]
    return f"{base}?{urlencode(items)}" if items else base


def offset_links(request: Request, params: PageParams, count: int) -> tuple[str | None, str | None]:
    next_url = None
    if params.offset + params.limit < count:
        next_url = _url_with(
            request, {"limit": str(params.limit), "offset": str(params.offset + params.limit)}
        )
    previous_url = None
    if params.offset > 0:
        previous_offset = max(0, params.offset - params.limit)
        previous_url = _url_with(
            request,
            {
                "limit": str(params.limit),
                "offset": str(previous_offset) if previous_offset else None,
            },
        )
    return next_url, previous_url


def page(request: Request, params: PageParams, count: int, results: list[Any]) -> dict[str, Any]:
    next_url, previous_url = offset_links(request, params, count)
    return {"count": count, "next": next_url, "previous": previous_url, "results": results}


# --- keyset cursors -----------------------------------------------------------------------


def encode_cursor(position: list[Any]) -> str:
    """An opaque token for a position (sort values and id of the last row)."""
    return base64.urlsafe_b64encode(orjson.dumps(position)).decode("ascii").rstrip("=")


def invalid_cursor() -> ValidationFailed:
    """The one answer to a `cursor` that is not a token of ours (or not for this list)."""
    return ValidationFailed("Invalid cursor.", code="invalid", attr="cursor")


def decode_cursor(token: str, expected_length: int) -> list[Any]:
    try:
        padded = token + "=" * (-len(token) % 4)
        value = orjson.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (ValueError, orjson.JSONDecodeError, UnicodeEncodeError):
        raise invalid_cursor() from None
    if not isinstance(value, list) or len(value) != expected_length:
        raise invalid_cursor()
    return value


def cursor_page(
    request: Request, limit: int, count: int, results: list[Any], next_position: list[Any] | None
) -> dict[str, Any]:
    next_url = None
    if next_position is not None:
        next_url = _url_with(
            request, {"limit": str(limit), "offset": None, "cursor": encode_cursor(next_position)}
        )
    return {"count": count, "next": next_url, "previous": None, "results": results}
