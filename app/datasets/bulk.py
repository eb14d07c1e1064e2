"""Bulk import and export of a dataset's items, streamed both ways at constant memory.

Import. Valid items are gathered into batches (`IMPORT_BATCH_SIZE`) and each batch is written
by a handful of set-based statements over `unnest()`ed arrays, never one statement per line:

- without `dedupe`: `INSERT … SELECT FROM unnest(…) ON CONFLICT (id) DO NOTHING RETURNING id`,
  then the lines whose id was already taken are compared with the stored rows in one query
  (`unchanged`, or `updated` by one `UPDATE … FROM unnest(…)` with `mode=upsert`, else
  `conflict`);
- with `dedupe=content`: the ids are looked up first, then the new lines' content hashes (the
  same expression as the generated `content_hash` column) are looked up among the dataset's
  live items and earlier lines of the batch; earlier batches are already in the table.

An id held by an item of another dataset or another team is answered `conflict` with the same
words either way, so nothing about other teams leaks. A batch is committed before its answers
are written (`atomic=false`), so an acknowledged line is durable and a broken stream leaves
whole batches only; `atomic=true` keeps one transaction and commits at the end only when no
line was rejected or in conflict.

The answers go through a spool file rather than straight to the client: a client that sends
its whole body before reading (most HTTP clients) would otherwise stop reading while the
server waits to send, and both would wait forever. The spool lets the import run at the
database's pace whatever the client does, and holds no answers in memory.

Export runs one query through a server-side cursor: one snapshot for the whole walk (a cursor
keeps the snapshot it was opened with), `FETCH`ed in batches, each line rendered by
PostgreSQL itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import datetime as dt
import io
import logging
import os
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.requests import ClientDisconnect

from app.datasets.bulk_formats import (
    BodyError,
    HeaderError,
    Item,
    LineError,
    csv_items,
    json_array_items,
    ndjson_items,
    physical_lines,
)
from app.db.base import utcnow, uuid7
from app.models.dataset import CONTENT_HASH_SQL

logger = logging.getLogger("app.datasets.bulk")

STATUSES = ("created", "updated", "unchanged", "duplicate", "conflict", "rejected")
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


@dataclass(frozen=True, slots=True)
class ImportOptions:
    team_id: int
    dataset_id: uuid.UUID
    user_id: int
    fmt: str
    gzip: bool
    upsert: bool
    dedupe: bool
    atomic: bool
    new_ids: bool
    batch_size: int
    max_line_bytes: int
    max_lines: int


@dataclass(slots=True)
class Counts:
    lines: int = 0
    by_status: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STATUSES, 0))

    @property
    def failed(self) -> int:
        return self.by_status["rejected"] + self.by_status["conflict"]


# --- the answer spool ---------------------------------------------------------------------------


class AnswerSpool:
    """An append-only temporary file the import writes to and the response reads from."""

    def __init__(self) -> None:
        # Closed by `read()`, which outlives this method: no `with` block can hold it.
        self._file = tempfile.TemporaryFile(prefix="llma-import-")  # noqa: SIM115
        self._fd = self._file.fileno()
        self._written = 0
        self._done = False
        self._changed = asyncio.Event()

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            count = os.pwrite(self._fd, view, self._written)
            self._written += count
            view = view[count:]
        self._changed.set()

    def finish(self) -> None:
        self._done = True
        self._changed.set()

    async def read(self) -> AsyncIterator[bytes]:
        offset = 0
        try:
            while True:
                if offset < self._written:
                    chunk = os.pread(self._fd, min(self._written - offset, 1 << 18), offset)
                    offset += len(chunk)
                    yield chunk
                elif self._done:
                    return
                else:
                    self._changed.clear()
                    if offset >= self._written and not self._done:
                        await self._changed.wait()
        finally:
            self._file.close()


def _answer(line: int, item_id: Any, status: str) -> bytes:
    return f'{{"line":{line},"id":"{item_id}","status":"{status}"}}\n'.encode()


def _error_answer(error: LineError) -> bytes:
    body = {"code": error.code, "detail": error.detail, "attr": error.attr}
    return (
        orjson.dumps({"line": error.line, "id": error.id, "status": "rejected", "error": body})
        + b"\n"
    )


def _conflict_answer(item: Item) -> bytes:
    body = {
        "code": "conflict",
        "detail": "An item with this id exists with other content; mode=upsert replaces it.",
        "attr": "id",
    }
    return (
        orjson.dumps({"line": item.line, "id": str(item.id), "status": "conflict", "error": body})
        + b"\n"
    )


def _taken_answer(item: Item) -> bytes:
    body = {
        "code": "id_taken",
        "detail": "This id belongs to an item outside this dataset.",
        "attr": "id",
    }
    return (
        orjson.dumps({"line": item.line, "id": str(item.id), "status": "conflict", "error": body})
        + b"\n"
    )


# --- the import ----------------------------------------------------------------------------------


def _columns(items: list[Item]) -> list[Any]:
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


async def _driver(session: AsyncSession) -> Any:
    """The session's asyncpg connection, inside a real transaction. SQLAlchemy's adapter
    sends `BEGIN` lazily, with its first statement: without one, statements sent straight to
    the driver would each commit on their own (see `app.statements`)."""
    connection = await session.connection()
    await connection.exec_driver_sql("SELECT 1")
    return (await connection.get_raw_connection()).driver_connection


class Importer:
    def __init__(
        self, sessionmaker: async_sessionmaker[AsyncSession], options: ImportOptions
    ) -> None:
        self.sessionmaker = sessionmaker
        self.options = options
        self.counts = Counts()
        self.clock = utcnow()

    def _stamp(self, count: int) -> dt.datetime:
        """A start time for `count` rows a microsecond apart, later than any before: items
        keep their input order in `created_at`, the export's order."""
        now = utcnow()
        start = now if now > self.clock else self.clock
        self.clock = start + dt.timedelta(microseconds=count + 1)
        return start

    def items(self, data: AsyncIterator[bytes]) -> AsyncIterator[Item | LineError]:
        """`data`: the body, already gunzipped (`bulk_formats.decompressed`)."""
        options = self.options
        if options.fmt == "json":
            return json_array_items(data, options.max_line_bytes)
        lines = physical_lines(data, options.max_line_bytes)
        if options.fmt == "csv":
            return csv_items(lines, options.max_line_bytes)
        return ndjson_items(lines, options.max_line_bytes)

    async def run(self, body: AsyncIterator[bytes], spool: AnswerSpool) -> None:
        options = self.options
        outcome: dict[str, Any] = {}
        async with self.sessionmaker() as session:
            pending: list[Item | LineError] = []
            ids: set[uuid.UUID] = set()
            valid = 0
            try:
                async for result in self.items(body):
                    if self.counts.lines >= options.max_lines:
                        outcome["error"] = {
                            "code": "too_many_lines",
                            "detail": f"An import takes at most {options.max_lines} lines; "
                            "the rest of the body was not read.",
                            "attr": None,
                        }
                        break
                    self.counts.lines += 1
                    if isinstance(result, Item):
                        if options.new_ids:
                            result.id = None
                        if result.id is not None:
                            if result.id in ids:
                                # The same id twice in one batch: the first one is written
                                # before the second is looked at.
                                await self._flush(session, pending, spool)
                                pending, ids, valid = [], set(), 0
                            ids.add(result.id)
                        valid += 1
                    pending.append(result)
                    if valid >= options.batch_size:
                        await self._flush(session, pending, spool)
                        pending, ids, valid = [], set(), 0
                await self._flush(session, pending, spool)
                pending = []
            except (BodyError, HeaderError) as exc:
                detail = exc.detail if isinstance(exc, HeaderError) else str(exc)
                attr = exc.attr if isinstance(exc, HeaderError) else None
                # Whole lines read before the fault are still answered.
                await self._flush(session, pending, spool)
                outcome["error"] = {"code": "parse_error", "detail": detail, "attr": attr}
            if options.atomic:
                committed = self.counts.failed == 0 and "error" not in outcome
                if committed:
                    await session.commit()
                else:
                    await session.rollback()
                outcome["committed"] = committed
        summary = {"summary": True, "lines": self.counts.lines, **self.counts.by_status}
        spool.write(orjson.dumps({**summary, **outcome}) + b"\n")

    async def _flush(
        self, session: AsyncSession, batch: list[Item | LineError], spool: AnswerSpool
    ) -> None:
        if not batch:
            return
        items = [entry for entry in batch if isinstance(entry, Item)]
        answers = await self._write(session, items) if items else {}
        if not self.options.atomic:
            await session.commit()
        out = bytearray()
        counts = self.counts.by_status
        for entry in batch:
            if isinstance(entry, LineError):
                counts["rejected"] += 1
                out += _error_answer(entry)
            else:
                status, text = answers[entry.line]
                counts[status] += 1
                out += text
        spool.write(bytes(out))

    async def _write(
        self, session: AsyncSession, items: list[Item]
    ) -> dict[int, tuple[str, bytes]]:
        options = self.options
        driver = await _driver(session)
        team, dataset = options.team_id, options.dataset_id
        answers: dict[int, tuple[str, bytes]] = {}
        client_ids = [item for item in items if item.id is not None]
        for item in items:
            if item.id is None:
                item.id = uuid7()

        to_insert = items
        created: set[Any] = set()
        if options.dedupe:
            if client_ids:
                existing = await self._compare(driver, client_ids, answers)
                to_insert = [item for item in items if item.line not in existing]
            to_insert = await self._drop_duplicates(driver, to_insert, answers)
        if to_insert:
            statement = INSERT_SQL + ("RETURNING id" if client_ids else "")
            args = [team, dataset, *_columns(to_insert), options.user_id]
            args.append(self._stamp(len(to_insert)))
            if client_ids:
                created = {row[0] for row in await driver.fetch(statement, *args)}
                leftovers = [item for item in to_insert if item.id not in created]
            else:
                await driver.execute(statement, *args)
                leftovers = []
            for item in to_insert:
                if item.line not in answers and (not client_ids or item.id in created):
                    answers[item.line] = ("created", _answer(item.line, item.id, "created"))
            if leftovers:
                await self._compare(driver, leftovers, answers)
        return answers

    async def _compare(
        self, driver: Any, items: list[Item], answers: dict[int, tuple[str, bytes]]
    ) -> set[int]:
        """Answer the lines whose id is already taken; the set of their line numbers."""
        options = self.options
        team, dataset = options.team_id, options.dataset_id
        rows = await driver.fetch(COMPARE_SQL, team, dataset, *_columns(items))
        changed: list[Item] = []
        taken: set[int] = set()
        for position, ours, same in rows:
            item = items[position - 1]
            taken.add(item.line)
            if not ours:
                answers[item.line] = ("conflict", _taken_answer(item))
            elif same:
                answers[item.line] = ("unchanged", _answer(item.line, item.id, "unchanged"))
            elif options.upsert:
                changed.append(item)
            else:
                answers[item.line] = ("conflict", _conflict_answer(item))
        if changed:
            args = [team, dataset, *_columns(changed), utcnow()]
            updated = {row[0] for row in await driver.fetch(UPDATE_SQL, *args)}
            for item in changed:
                if item.id in updated:
                    answers[item.line] = ("updated", _answer(item.line, item.id, "updated"))
                else:
                    answers[item.line] = ("conflict", _taken_answer(item))
        for item in items:
            # Taken by a concurrent writer and gone again before we looked: say so.
            if item.line not in taken and item.line not in answers:
                answers[item.line] = ("conflict", _conflict_answer(item))
        return taken

    async def _drop_duplicates(
        self, driver: Any, items: list[Item], answers: dict[int, tuple[str, bytes]]
    ) -> list[Item]:
        if not items:
            return items
        options = self.options
        rows = await driver.fetch(
            DUPLICATE_SQL,
            options.team_id,
            options.dataset_id,
            [item.input for item in items],
            [item.output for item in items],
        )
        first: dict[bytes, str] = {}
        keep: list[Item] = []
        for position, digest, duplicate_of in rows:
            item = items[position - 1]
            original = duplicate_of or first.get(digest)
            if original is not None:
                answer = {
                    "line": item.line,
                    "id": None,
                    "status": "duplicate",
                    "duplicate_of": original,
                }
                answers[item.line] = ("duplicate", orjson.dumps(answer) + b"\n")
            else:
                first[digest] = str(item.id)
                keep.append(item)
        return keep


async def run_import(importer: Importer, body: AsyncIterator[bytes], spool: AnswerSpool) -> None:
    """The import task: always ends the spool, with a final line saying how it ended."""
    try:
        await importer.run(body, spool)
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        if isinstance(exc, ClientDisconnect):
            logger.info("bulk import: client went away after %s lines", importer.counts.lines)
        else:
            logger.exception("bulk import failed")
            summary = {"summary": True, "lines": importer.counts.lines}
            error = {
                "code": "import_failed",
                "detail": "The import stopped on a server or database error; every line "
                "answered before this one stands.",
                "attr": None,
            }
            spool.write(orjson.dumps({**summary, **importer.counts.by_status, "error": error}))
            spool.write(b"\n")
    finally:
        spool.finish()


async def answer_stream(importer: Importer, body: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """The response body. The import starts here, once the response is under way: by then the
    request's own session (authentication, the dataset check) is closed."""
    spool = AnswerSpool()
    task = asyncio.create_task(run_import(importer, body, spool))
    try:
        async for chunk in spool.read():
            yield chunk
    finally:
        if not task.done():
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


# --- the export ----------------------------------------------------------------------------------

_TS = """to_char(ref_timestamp AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')"""
NDJSON_LINE = f"""
'{{"id":"' || id::text || '","input":' || input::text || ',"output":' || output::text
|| ',"metadata":' || metadata::text
|| ',"ref_trace_id":' || coalesce(to_json(ref_trace_id)::text, 'null')
|| ',"ref_source_id":' || coalesce(to_json(ref_source_id)::text, 'null')
|| ',"ref_timestamp":' || coalesce('"' || {_TS} || '"', 'null')
|| ',"deleted":' || deleted::text || '}}'
"""
CSV_COLUMNS = (
    "id::text, input::text, output::text, metadata::text, ref_trace_id, ref_source_id, "
    f"{_TS}, deleted::text"
)
EXPORT_COLUMNS = (
    "id",
    "input",
    "output",
    "metadata",
    "ref_trace_id",
    "ref_source_id",
    "ref_timestamp",
    "deleted",
)
EXPORT_BATCH = 2000


def export_sql(fmt: str, include_deleted: bool) -> str:
    columns = NDJSON_LINE if fmt == "ndjson" else CSV_COLUMNS
    live = "" if include_deleted else " AND NOT deleted"
    return (
        f"SELECT {columns} FROM dataset_items WHERE team_id = $1 AND dataset_id = $2{live} "
        "ORDER BY created_at, id"
    )


def _csv_rows(rows: list[Any]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerows(rows)
    return out.getvalue().encode()


async def export_stream(
    sessionmaker: async_sessionmaker[AsyncSession],
    team_id: int,
    dataset_id: uuid.UUID,
    fmt: str,
    include_deleted: bool,
) -> AsyncIterator[bytes]:
    render: Callable[[list[Any]], bytes]
    if fmt == "ndjson":

        def render(rows: list[Any]) -> bytes:
            return ("\n".join([row[0] for row in rows]) + "\n").encode()

    else:
        render = _csv_rows
        yield _csv_rows([list(EXPORT_COLUMNS)])
    async with sessionmaker() as session:
        try:
            driver = await _driver(session)
            cursor = await driver.cursor(export_sql(fmt, include_deleted), team_id, dataset_id)
            while rows := await cursor.fetch(EXPORT_BATCH):
                yield render(rows)
        finally:
            await session.rollback()
