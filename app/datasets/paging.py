"""List query parameters of both lists, and the keyset ordering behind `cursor` (SPEC §4).

A position is the sort values and id of the last row shown, as the row carries them on the wire
(ISO 8601 timestamps with microseconds, uuid text). The token carries the ordering it was made
for, so a token replayed with another `order_by` is refused instead of skipping rows.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Query, Request
from sqlalchemy import ColumnElement, and_, or_
from sqlalchemy.orm import InstrumentedAttribute

from app.errors import ValidationFailed
from app.pagination import Pagination, decode_cursor

CURSOR_HELP = (
    "Keyset paging: send an empty `cursor` for the first page, then follow `next`. Deep pages "
    "cost what the first costs; `previous` is null. Cannot be combined with `offset`."
)


@dataclass(frozen=True)
class Window:
    """Which slice of a list: `cursor` None pages by offset, "" asks for the first keyset page."""

    limit: int
    offset: int
    cursor: str | None


def list_window(
    request: Request,
    pagination: Pagination,
    cursor: Annotated[str | None, Query(description=CURSOR_HELP)] = None,
) -> Window:
    if cursor is not None and request.query_params.get("offset"):
        raise ValidationFailed(
            "Use either `cursor` or `offset`, not both.", code="invalid", attr="cursor"
        )
    return Window(limit=pagination.limit, offset=pagination.offset, cursor=cursor)


ListWindow = Annotated[Window, Depends(list_window)]


@dataclass(frozen=True)
class SortKey:
    name: str
    column: InstrumentedAttribute[Any]
    descending: bool


def _invalid_cursor() -> ValidationFailed:
    return ValidationFailed("Invalid cursor.", code="invalid", attr="cursor")


def _decode(value: Any, is_timestamp: bool) -> Any:
    if not isinstance(value, str):
        raise _invalid_cursor()
    try:
        if not is_timestamp:
            return uuid.UUID(value)
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise _invalid_cursor() from None
    if parsed.tzinfo is None:
        raise _invalid_cursor()
    return parsed


@dataclass(frozen=True)
class Ordering:
    """Sort keys, ending with `id` as the tie-breaker that makes every position unique."""

    keys: tuple[SortKey, ...]

    @property
    def signature(self) -> str:
        return ",".join(("-" if k.descending else "") + k.name for k in self.keys)

    def clauses(self) -> list[ColumnElement[Any]]:
        return [k.column.desc() if k.descending else k.column.asc() for k in self.keys]

    def position_of(self, row: Any) -> list[Any]:
        return [self.signature, *(str(getattr(row, k.name)) for k in self.keys)]

    def decode(self, token: str) -> list[Any]:
        raw = decode_cursor(token, len(self.keys) + 1)
        if raw[0] != self.signature:
            raise _invalid_cursor()
        return [_decode(v, k.name != "id") for k, v in zip(self.keys, raw[1:], strict=True)]

    def after(self, values: list[Any]) -> ColumnElement[bool]:
        """Rows strictly past `values` in this order (lexicographic, mixed directions)."""
        branches = []
        for i, key in enumerate(self.keys):
            ties = [k.column == v for k, v in zip(self.keys[:i], values[:i], strict=True)]
            beyond = key.column < values[i] if key.descending else key.column > values[i]
            branches.append(and_(*ties, beyond))
        # A plain range on the first key as well: the index scan starts at the position
        # instead of filtering every row before it.
        first = self.keys[0]
        bound = first.column <= values[0] if first.descending else first.column >= values[0]
        return and_(bound, or_(*branches))


def comma_separated(values: list[str] | None) -> list[str]:
    """`a,b&x=c` and repeated parameters alike; blanks dropped."""
    return [part.strip() for value in values or () for part in value.split(",") if part.strip()]


def uuid_list(values: list[str] | None, attr: str) -> list[uuid.UUID]:
    parsed = []
    for part in comma_separated(values):
        try:
            parsed.append(uuid.UUID(part))
        except ValueError:
            raise ValidationFailed("Must be a valid UUID.", code="invalid", attr=attr) from None
    return parsed


def optional_uuid(value: str | None, attr: str) -> uuid.UUID | None:
    if value is None or not value.strip():
        return None
    try:
        return uuid.UUID(value.strip())
    except ValueError:
        raise ValidationFailed("Must be a valid UUID.", code="invalid", attr=attr) from None


def search_term(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    return value.strip()


def like_pattern(term: str) -> str:
    """`%term%` with the user's own `%`, `_` and `\\` matched literally."""
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"
