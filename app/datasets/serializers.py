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
from sqlalchemy import JSON, ColumnClause, Text, cast, func, literal_column
from sqlalchemy.orm import InstrumentedAttribute

from app.jsonutil import isoformat
from app.models import Dataset, DatasetItem, User
from app.schemas import user_basic

# ISO 8601 in UTC with microseconds and `Z`: the same text as `app.jsonutil.isoformat`.
ISO_FORMAT: ColumnClause[str] = literal_column("""'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'""", Text)
UTC: ColumnClause[str] = literal_column("'UTC'", Text)


def _text(column: InstrumentedAttribute[Any], name: str) -> Any:
    return cast(column, Text).label(name)


def _timestamp(column: InstrumentedAttribute[Any], name: str) -> Any:
    return func.to_char(func.timezone(UTC, column), ISO_FORMAT).label(name)


def _raw(value: str | None) -> orjson.Fragment | None:
    # `jsonb` text output is valid JSON: splice it, skipping a parse and a re-encode per value.
    return None if value is None else orjson.Fragment(value)


def json_fragment(value: Any) -> orjson.Fragment | None:
    """A decoded JSON value, pre-encoded; integers beyond 64 bits fall back to `json`."""
    if value is None or value is JSON.NULL:
        return None
    try:
        return orjson.Fragment(orjson.dumps(value))
    except orjson.JSONEncodeError:
        return orjson.Fragment(json.dumps(value, ensure_ascii=False))


USER_COLUMNS = (
    User.id.label("user_id"),
    _text(User.uuid, "user_uuid"),
    User.distinct_id.label("user_distinct_id"),
    User.first_name.label("user_first_name"),
    User.last_name.label("user_last_name"),
    User.email.label("user_email"),
    User.is_email_verified.label("user_is_email_verified"),
    _text(User.hedgehog_config, "user_hedgehog_config"),
    User.role_at_organization.label("user_role_at_organization"),
)


def _user(values: Sequence[Any]) -> dict[str, Any] | None:
    user_id, uuid, distinct_id, first, last, email, verified, hedgehog, role = values
    if user_id is None:
        return None
    return {
        "id": user_id,
        "uuid": uuid,
        "distinct_id": distinct_id,
        "first_name": first,
        "last_name": last,
        "email": email,
        "is_email_verified": verified,
        "hedgehog_config": _raw(hedgehog),
        "role_at_organization": role,
    }


DATASET_COLUMNS = (
    _text(Dataset.id, "id"),
    Dataset.name,
    Dataset.description,
    _text(Dataset.metadata_, "metadata"),
    _timestamp(Dataset.created_at, "created_at"),
    _timestamp(Dataset.updated_at, "updated_at"),
    Dataset.deleted,
    Dataset.team_id,
    *USER_COLUMNS,
)


def dataset_from_row(row: Sequence[Any]) -> dict[str, Any]:
    id_, name, description, metadata, created_at, updated_at, deleted, team_id = row[:8]
    return {
        "id": id_,
        "name": name,
        "description": description,
        "metadata": _raw(metadata),
        "created_at": created_at,
        "updated_at": updated_at,
        "deleted": deleted,
        "created_by": _user(row[8:17]),
        "team": team_id,
    }


def dataset_from_model(dataset: Dataset) -> dict[str, Any]:
    return {
        "id": str(dataset.id),
        "name": dataset.name,
        "description": dataset.description,
        "metadata": json_fragment(dataset.metadata_),
        "created_at": isoformat(dataset.created_at),
        "updated_at": isoformat(dataset.updated_at),
        "deleted": dataset.deleted,
        "created_by": user_basic(dataset.created_by),
        "team": dataset.team_id,
    }


ITEM_COLUMNS = (
    _text(DatasetItem.id, "id"),
    _text(DatasetItem.dataset_id, "dataset_id"),
    _text(DatasetItem.input, "input"),
    _text(DatasetItem.output, "output"),
    _text(DatasetItem.metadata_, "metadata"),
    DatasetItem.ref_trace_id,
    _timestamp(DatasetItem.ref_timestamp, "ref_timestamp"),
    DatasetItem.ref_source_id,
    DatasetItem.deleted,
    _timestamp(DatasetItem.created_at, "created_at"),
    _timestamp(DatasetItem.updated_at, "updated_at"),
    DatasetItem.team_id,
    *USER_COLUMNS,
)


def item_from_row(row: Sequence[Any]) -> dict[str, Any]:
    (id_, dataset_id, input_, output, metadata, trace_id, ref_ts, source_id) = row[:8]
    deleted, created_at, updated_at, team_id = row[8:12]
    return {
        "id": id_,
        "dataset": dataset_id,
        "input": _raw(input_),
        "output": _raw(output),
        "metadata": _raw(metadata),
        "ref_trace_id": trace_id,
        "ref_timestamp": ref_ts,
        "ref_source_id": source_id,
        "deleted": deleted,
        "created_at": created_at,
        "updated_at": updated_at,
        "created_by": _user(row[12:21]),
        "team": team_id,
    }


def item_from_model(item: DatasetItem) -> dict[str, Any]:
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
        "created_by": user_basic(item.created_by),
        "team": item.team_id,
    }
