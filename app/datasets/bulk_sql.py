"""The SQL of bulk import and export, written for asyncpg (`$n`) and run on the driver.

Import statements work on whole batches: the items arrive as one array per column
(`item_arrays`) and are `unnest()`ed, so a batch costs a handful of statements, never one per
line. The export renders each line in PostgreSQL (`NDJSON_LINE`) or selects the CSV cells.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.datasets.bulk_formats import Item
from app.db.wire import ISO_FORMAT_TEXT
from app.models.dataset import CONTENT_HASH_SQL

ITEM_ARRAYS = (
    "$4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::timestamptz[], $10::bool[]"
)
ITEM_NAMES = "input, output, metadata, ref_trace_id, ref_source_id, ref_timestamp, deleted"

INSERT_SQL = f"""
INSERT INTO dataset_items (id, team_id, dataset_id, created_by_id, {ITEM_NAMES},
                           created_at, updated_at)
SELECT i.id, $1, $2, $11, i.input::jsonb, i.output::jsonb, i.metadata::jsonb, i.ref_trace_id,
       i.ref_source_id, i.ref_timestamp, i.deleted,
       $12::timestamptz + i.n * interval '1 microsecond',
       $12::timestamptz + i.n * interval '1 microsecond'
FROM unnest($3::uuid[], {ITEM_ARRAYS}) WITH ORDINALITY AS i(id, {ITEM_NAMES}, n)
ON CONFLICT (id) DO NOTHING
"""
# The stored row against an incoming line: is the id ours, and is the content the same?
COMPARE_SQL = f"""
SELECT i.n, e.team_id = $1 AND e.dataset_id = $2 AS ours,
       e.input = i.input::jsonb AND e.output = i.output::jsonb
       AND e.metadata = i.metadata::jsonb
       AND e.ref_trace_id IS NOT DISTINCT FROM i.ref_trace_id
       AND e.ref_source_id IS NOT DISTINCT FROM i.ref_source_id
       AND e.ref_timestamp IS NOT DISTINCT FROM i.ref_timestamp
       AND e.deleted = i.deleted AS same
FROM unnest($3::uuid[], {ITEM_ARRAYS}) WITH ORDINALITY AS i(id, {ITEM_NAMES}, n)
JOIN dataset_items e ON e.id = i.id
"""
UPDATE_SQL = f"""
UPDATE dataset_items e
SET input = i.input::jsonb, output = i.output::jsonb, metadata = i.metadata::jsonb,
    ref_trace_id = i.ref_trace_id, ref_source_id = i.ref_source_id,
    ref_timestamp = i.ref_timestamp, deleted = i.deleted, updated_at = $11
FROM unnest($3::uuid[], {ITEM_ARRAYS}) AS i(id, {ITEM_NAMES})
WHERE e.id = i.id AND e.team_id = $1 AND e.dataset_id = $2
RETURNING e.id
"""
# The first live item of the dataset with the same content, for each incoming line.
_HASH = CONTENT_HASH_SQL.replace("input", "i.input::jsonb").replace("output", "i.output::jsonb")
DUPLICATE_SQL = f"""
SELECT i.n, h.hash,
       (SELECT d.id::text FROM dataset_items d
        WHERE d.team_id = $1 AND d.dataset_id = $2 AND NOT d.deleted AND d.content_hash = h.hash
        ORDER BY d.created_at, d.id LIMIT 1) AS duplicate_of
FROM unnest($3::text[], $4::text[]) WITH ORDINALITY AS i(input, output, n)
CROSS JOIN LATERAL (SELECT {_HASH} AS hash) h
"""


def item_arrays(items: list[Item]) -> list[Any]:
    """The batch as the arrays `$3…$10` of the import statements."""
    return [
        [item.id for item in items],
        [item.input for item in items],
        [item.output for item in items],
        [item.metadata for item in items],
        [item.ref_trace_id for item in items],
        [item.ref_source_id for item in items],
        [item.ref_timestamp for item in items],
        [item.deleted for item in items],
    ]


async def transaction_driver(session: AsyncSession) -> Any:
    """The session's asyncpg connection, inside a real transaction. SQLAlchemy's adapter
    sends `BEGIN` lazily, with its first statement: without one, statements sent straight to
    the driver would each commit on their own (see `app.db.driver`)."""
    connection = await session.connection()
    await connection.exec_driver_sql("SELECT 1")
    return (await connection.get_raw_connection()).driver_connection


# --- export ---------------------------------------------------------------------------------

_TS = f"to_char(ref_timestamp AT TIME ZONE 'UTC', {ISO_FORMAT_TEXT})"
NDJSON_LINE = f"""
'{{"id":"' || id::text || '","input":' || input::text || ',"output":' || output::text
|| ',"metadata":' || metadata::text
|| ',"ref_trace_id":' || coalesce(to_json(ref_trace_id)::text, 'null')
|| ',"ref_source_id":' || coalesce(to_json(ref_source_id)::text, 'null')
|| ',"ref_timestamp":' || coalesce('"' || {_TS} || '"', 'null')
|| ',"deleted":' || deleted::text || '}}'
"""
# The cells of `bulk_formats.ITEM_KEYS`, in that order: an export imports back as it is.
CSV_COLUMNS = (
    "id::text, input::text, output::text, metadata::text, ref_trace_id, ref_source_id, "
    f"{_TS}, deleted::text"
)


def export_sql(fmt: str, include_deleted: bool) -> str:
    columns = NDJSON_LINE if fmt == "ndjson" else CSV_COLUMNS
    live = "" if include_deleted else " AND NOT deleted"
    return (
        f"SELECT {columns} FROM dataset_items WHERE team_id = $1 AND dataset_id = $2{live} "
        "ORDER BY created_at, id"
    )
