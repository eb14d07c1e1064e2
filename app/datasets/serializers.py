"""The one row shape and the one renderer of each resource: datasets and dataset items.

Every response, whichever path wrote the row (ORM or driver), is rendered from a row selected
with these columns, read by name: the retrieve statement reads a dataset back after a create or
a PATCH, and an item's insert returns the same columns. PostgreSQL puts the values in wire form
(`app.db.wire`: text uuids, `jsonb` text spliced unparsed, ISO timestamps), so the list path
builds no Python datetime, UUID or JSON object at all. The creator's columns come from a LEFT
JOIN (`app.auth.users`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import orjson
from sqlalchemy import BigInteger, cast, func, select

from app.auth.users import USER_COLUMNS, render_user
from app.db.wire import as_text, as_timestamp, fragment
from app.models import Dataset, DatasetItem, DatasetItemCount


def json_text(value: Any) -> str:
    """A decoded JSON value as the text of a `jsonb` parameter (None: JSON's own null)."""
    try:
        return orjson.dumps(value).decode()
    except orjson.JSONEncodeError:
        # Integers beyond 64 bits; and what orjson refuses, `json` escapes as SQLAlchemy would.
        return json.dumps(value)


# The sum of the dataset's count shards (`DatasetItemCount`): at most 16 primary-key index rows.
ITEM_COUNT = (
    func.coalesce(
        select(cast(func.sum(DatasetItemCount.n), BigInteger))
        .where(DatasetItemCount.dataset_id == Dataset.id)
        .correlate(Dataset)
        .scalar_subquery(),
        0,
    )
).label("item_count")

DATASET_COLUMNS = (
    as_text(Dataset.id, "id"),
    Dataset.name,
    Dataset.description,
    as_text(Dataset.metadata_, "metadata"),
    as_timestamp(Dataset.created_at, "created_at"),
    as_timestamp(Dataset.updated_at, "updated_at"),
    Dataset.deleted,
    Dataset.team_id,
    *USER_COLUMNS,
    ITEM_COUNT,
)


def render_dataset(row: Mapping[str, Any]) -> dict[str, Any]:
    """A `DATASET_COLUMNS` row → the dataset's wire object (`schemas.DatasetRead`)."""
    return {
        "id": row["id"],
        "name": row["name"],
        "description": row["description"],
        "metadata": fragment(row["metadata"]),
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
        "deleted": row["deleted"],
        "created_by": render_user(row),
        "team": row["team_id"],
        "item_count": row["item_count"],
    }


def item_columns(item: Any) -> tuple[Any, ...]:
    """The item row's columns over `item`: `DatasetItem` itself, or an alias of the rows an
    `INSERT … RETURNING` gives (the create statement)."""
    return (
        as_text(item.id, "id"),
        as_text(item.dataset_id, "dataset_id"),
        as_text(item.input, "input"),
        as_text(item.output, "output"),
        as_text(item.metadata_, "metadata"),
        item.ref_trace_id,
        as_timestamp(item.ref_timestamp, "ref_timestamp"),
        item.ref_source_id,
        item.deleted,
        as_timestamp(item.created_at, "created_at"),
        as_timestamp(item.updated_at, "updated_at"),
        item.team_id,
        *USER_COLUMNS,
    )


ITEM_COLUMNS = item_columns(DatasetItem)


def render_item(row: Mapping[str, Any]) -> dict[str, Any]:
    """An `item_columns` row → the item's wire object (`schemas.DatasetItemRead`)."""
    return {
        "id": row["id"],
        "dataset": row["dataset_id"],
        "input": fragment(row["input"]),
        "output": fragment(row["output"]),
        "metadata": fragment(row["metadata"]),
        "ref_trace_id": row["ref_trace_id"],
        "ref_timestamp": row["ref_timestamp"],
        "ref_source_id": row["ref_source_id"],
        "deleted": row["deleted"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
        "created_by": render_user(row),
        "team": row["team_id"],
    }
