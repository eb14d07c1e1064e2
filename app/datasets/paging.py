"""Offset and keyset (`cursor`) paging of the two lists, on statements built once (SPEC §4).

A `PageQuery` holds a list's statements compiled once (`app.db.driver`), so a request only
binds values: no statement is built, hashed or compiled on the hot path. One round trip
per page: the exact count rides along as an uncorrelated scalar subquery (PostgreSQL runs it
once), and runs on its own only when the page comes back empty.

A keyset position is the sort values and id of the last row shown, as the row carries them on
the wire (ISO 8601 timestamps with microseconds, uuid text). The token also names the ordering
it was made for, so a token replayed with another `order_by` is refused instead of skipping rows.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Annotated, Any

import asyncpg
from fastapi import Depends, Query, Request
from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Integer,
    Select,
    and_,
    any_,
    bindparam,
    func,
    or_,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from app.db.driver import Statement, fetch, fetchrow
from app.web.errors import ValidationFailed
from app.web.pagination import Pagination, decode_cursor, invalid_cursor

CURSOR_HELP = (
    "Keyset paging: send an empty `cursor` for the first page, then follow `next`. Deep pages "
    "cost what the first costs; `previous` is null. Cannot be combined with `offset`."
)
LIMIT = bindparam("limit", type_=Integer())
OFFSET = bindparam("offset", type_=BigInteger())


@dataclass(frozen=True)
class Window:
    """Which slice of a list: `cursor` None pages by offset, "" asks for the first keyset page."""

    limit: int
    offset: int
    cursor: str | None


async def list_window(
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


def _decode(value: Any, is_timestamp: bool) -> Any:
    if not isinstance(value, str):
        raise invalid_cursor()
    try:
        if not is_timestamp:
            return uuid.UUID(value)
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise invalid_cursor() from None
    if parsed.tzinfo is None:
        raise invalid_cursor()
    return parsed


@dataclass(frozen=True, eq=False)
class Ordering:
    """Sort keys, ending with `id` as the tie-breaker that makes every position unique."""

    keys: tuple[SortKey, ...]

    @property
    def signature(self) -> str:
        return ",".join(("-" if k.descending else "") + k.name for k in self.keys)

    def clauses(self) -> list[ColumnElement[Any]]:
        return [k.column.desc() if k.descending else k.column.asc() for k in self.keys]

    def position_of(self, row: Any) -> list[Any]:
        return [self.signature, *(str(row[k.name]) for k in self.keys)]

    def decode(self, token: str) -> dict[str, Any]:
        """A token → the bind parameters of `after()`; 400 `attr: "cursor"` if it is not ours."""
        raw = decode_cursor(token, len(self.keys) + 1)
        if raw[0] != self.signature:
            raise invalid_cursor()
        return {
            f"after_{i}": _decode(value, key.name != "id")
            for i, (key, value) in enumerate(zip(self.keys, raw[1:], strict=True))
        }

    def after(self) -> ColumnElement[bool]:
        """Rows strictly past the position `after_0…` (lexicographic, mixed directions)."""
        values = [bindparam(f"after_{i}", type_=k.column.type) for i, k in enumerate(self.keys)]
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


@dataclass(frozen=True)
class PageRows:
    count: int
    rows: Sequence[asyncpg.Record]
    next_position: list[Any] | None


@dataclass(frozen=True, eq=False)
class PageQuery:
    """A list's row shape and filters; the page and count statements derive from them once."""

    columns: Select[Any]
    """The row shape, unfiltered: the table's wire columns and the creator's (LEFT JOIN)."""
    filters: tuple[ColumnElement[bool], ...]
    ordering: Ordering
    key: InstrumentedAttribute[Any]
    """The table's primary key."""

    @cached_property
    def count(self) -> Select[Any]:
        return select(func.count()).select_from(self.key.class_).where(*self.filters)

    def _ordered(self, rows: Select[Any]) -> Select[Any]:
        total = self.count.correlate(None).scalar_subquery().label("total")
        return rows.add_columns(total).order_by(*self.ordering.clauses())

    @cached_property
    def by_offset(self) -> Statement:
        """The page's keys first, then its rows. OFFSET then skips entries of the ordering
        index (an index-only scan), and only the `limit` rows that remain are read, joined to
        their creator and put in wire form. Offsetting the full rows instead formats and joins
        every skipped row before discarding it: 4x slower at offset 100 000 (bench/RESULTS.md).
        """
        page = (
            select(self.key)
            .where(*self.filters)
            .order_by(*self.ordering.clauses())
            .limit(LIMIT)
            .offset(OFFSET)
        )
        # `= ANY(ARRAY(…))`: the keys are fetched once (an InitPlan) and the rows are then read
        # by primary key, a plan PostgreSQL keeps even for a generic prepared statement.
        keys = page.correlate(None).scalar_subquery()
        rows = self.columns.where(self.key == any_(func.array(keys)))
        return Statement(self._ordered(rows))

    @cached_property
    def first_keyset(self) -> Statement:
        return Statement(self._ordered(self.columns.where(*self.filters)).limit(LIMIT))

    @cached_property
    def next_keyset(self) -> Statement:
        rows = self.columns.where(*self.filters, self.ordering.after())
        return Statement(self._ordered(rows).limit(LIMIT))

    @cached_property
    def count_only(self) -> Statement:
        return Statement(self.count)

    async def fetch(
        self, session: AsyncSession, params: dict[str, Any], window: Window
    ) -> PageRows:
        bound = dict(params)
        if window.cursor is None:
            statement = self.by_offset
            bound.update(limit=window.limit, offset=window.offset)
        elif window.cursor:
            statement = self.next_keyset
            bound.update(self.ordering.decode(window.cursor), limit=window.limit + 1)
        else:
            statement = self.first_keyset
            # One extra row tells whether a next page exists.
            bound.update(limit=window.limit + 1)
        rows = await fetch(session, statement, bound)
        if rows:
            counted = int(rows[0]["total"])
        else:
            only = await fetchrow(session, self.count_only, params)
            counted = 0 if only is None else int(only[0])
        next_position = None
        if window.cursor is not None and len(rows) > window.limit:
            rows = rows[: window.limit]
            next_position = self.ordering.position_of(rows[-1])
        return PageRows(counted, rows, next_position)
