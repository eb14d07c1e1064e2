"""The wire shape of datasets and items, built as plain dicts for `app.jsonutil.JSONResponse`.

Reads (list, retrieve) select flat rows that PostgreSQL has already put in wire form: `jsonb` as
text (spliced into the response unparsed with `orjson.Fragment`), uuids as text and timestamps
formatted as SPEC §4 wants them, plus the creator's columns from a LEFT JOIN. So the list path
builds no Python datetime, UUID or JSON object at all. Each column tuple sits next to the
function that unpacks it, so their orders cannot drift apart. Writes (create, patch) hold ORM
objects and use the `*_from_model` functions.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import orjson
from sqlalchemy import JSON

from app.models import Dataset, DatasetItem
from app.schemas import USER_COLUMNS, as_text, as_timestamp, fragment, user_from_columns
from app.web.jsonutil import isoformat


def json_fragment(value: Any) -> orjson.Fragment | None:
    """A decoded JSON value, pre-encoded for the response."""
    if value is None or value is JSON.NULL:
        return None
    return orjson.Fragment(json_text(value))


def json_text(value: Any) -> str:
    """A decoded JSON value as the text of a `jsonb` parameter (None: JSON's own null)."""
    try:
        return orjson.dumps(value).decode()
    except orjson.JSONEncodeError:
        # Integers beyond 64 bits; and what orjson refuses, `json` escapes as SQLAlchemy would.
        return json.dumps(value)


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
    Dataset.item_count,
)


def dataset_from_row(row: Sequence[Any]) -> dict[str, Any]:
    id_, name, description, metadata, created_at, updated_at, deleted, team_id = row[:8]
    return {
        "id": id_,
        "name": name,
        "description": description,
        "metadata": fragment(metadata),
        "created_at": created_at,
        "updated_at": updated_at,
        "deleted": deleted,
        "created_by": user_from_columns(row[8:17]),
        "team": team_id,
        "item_count": row[17],
    }


def dataset_from_model(dataset: Dataset, created_by: dict[str, Any] | None) -> dict[str, Any]:
    return {
        "id": str(dataset.id),
        "name": dataset.name,
        "description": dataset.description,
        "metadata": json_fragment(dataset.metadata_),
        "created_at": isoformat(dataset.created_at),
        "updated_at": isoformat(dataset.updated_at),
        "deleted": dataset.deleted,
        "created_by": created_by,
        "team": dataset.team_id,
        "item_count": dataset.item_count,
    }


# An item's own columns (what `INSERT … RETURNING` gives), then its creator's.
ITEM_FIELDS = (
    as_text(DatasetItem.id, "id"),
    as_text(DatasetItem.dataset_id, "dataset_id"),
    as_text(DatasetItem.input, "input"),
    as_text(DatasetItem.output, "output"),
    as_text(DatasetItem.metadata_, "metadata"),
    DatasetItem.ref_trace_id,
    as_timestamp(DatasetItem.ref_timestamp, "ref_timestamp"),
    DatasetItem.ref_source_id,
    DatasetItem.deleted,
    as_timestamp(DatasetItem.created_at, "created_at"),
    as_timestamp(DatasetItem.updated_at, "updated_at"),
    DatasetItem.team_id,
)
ITEM_COLUMNS = (*ITEM_FIELDS, *USER_COLUMNS)


def item_from_row(row: Sequence[Any]) -> dict[str, Any]:
    """An `ITEM_COLUMNS` row."""
    return item_from_fields(row, user_from_columns(row[12:21]))


def item_from_fields(row: Sequence[Any], created_by: dict[str, Any] | None) -> dict[str, Any]:
    """An `ITEM_FIELDS` row and its creator."""
    (id_, dataset_id, input_, output, metadata, trace_id, ref_ts, source_id) = row[:8]
    deleted, created_at, updated_at, team_id = row[8:12]
    return {
        "id": id_,
        "dataset": dataset_id,
        "input": fragment(input_),
        "output": fragment(output),
        "metadata": fragment(metadata),
        "ref_trace_id": trace_id,
        "ref_timestamp": ref_ts,
        "ref_source_id": source_id,
        "deleted": deleted,
        "created_at": created_at,
        "updated_at": updated_at,
        "created_by": created_by,
        "team": team_id,
    }


def item_from_model(item: DatasetItem, created_by: dict[str, Any] | None) -> dict[str, Any]:
    return {
        "id": str(item.id),
        "dataset": str(item.dataset_id),
        "input": json_fragment(item.input),
        "output": json_fragment(item.output),
        "metadata": json_fragment(item.metadata_),
        "ref_trace_id": item.ref_trace_id,
        "ref_timestamp": None if item.ref_timestamp is None else isoformat(item.ref_timestamp),
        "ref_source_id": item.ref_source_id,
        "deleted": item.deleted,
        "created_at": isoformat(item.created_at),
        "updated_at": isoformat(item.updated_at),
        "created_by": created_by,
        "team": item.team_id,
    }
