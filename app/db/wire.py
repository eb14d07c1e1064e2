"""Columns selected in wire form, for rows that are rendered without building Python objects.

PostgreSQL puts the values as SPEC §4 wants them on the wire: uuids and `jsonb` as text (the
latter spliced into the response unparsed with `orjson.Fragment`), timestamps as ISO 8601 UTC
with microseconds and `Z` (the same text as `app.web.jsonutil.isoformat`).
"""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import ColumnClause, Text, cast, func, literal_column

ISO_FORMAT_TEXT = """'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'"""
ISO_FORMAT: ColumnClause[str] = literal_column(ISO_FORMAT_TEXT, Text)
UTC: ColumnClause[str] = literal_column("'UTC'", Text)


def as_text(column: Any, name: str) -> Any:
    return cast(column, Text).label(name)


def as_timestamp(column: Any, name: str) -> Any:
    return func.to_char(func.timezone(UTC, column), ISO_FORMAT).label(name)


def fragment(value: str | None) -> orjson.Fragment | None:
    """`jsonb` text is valid JSON: splice it, skipping a parse and a re-encode per value."""
    return None if value is None else orjson.Fragment(value)
