"""Bulk import of a dataset's items at constant memory (answers: `bulk_answers`, SQL: `bulk_sql`).

Valid items are gathered into batches (`IMPORT_BATCH_SIZE`) and each batch is written by a
handful of set-based statements over `unnest()`ed arrays, never one statement per line:

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
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import uuid
from collections.abc import AsyncIterator
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.requests import ClientDisconnect

from app.datasets.bulk_answers import (
    AnswerSpool,
    Counts,
    ImportOptions,
    answer,
    conflict_answer,
    duplicate_answer,
    error_answer,
    taken_answer,
)
from app.datasets.bulk_csv import HeaderError, csv_items
from app.datasets.bulk_formats import BodyError, Item, LineError, ndjson_items, physical_lines
from app.datasets.bulk_json import json_array_items
from app.datasets.bulk_sql import (
    COMPARE_SQL,
    DUPLICATE_SQL,
    INSERT_SQL,
    UPDATE_SQL,
    item_arrays,
    transaction_driver,
)
from app.db.base import utcnow, uuid7
from app.db.session import end_transaction

logger = logging.getLogger("app.datasets.bulk")


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
                    await end_transaction(session)
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
            await end_transaction(session)
        out = bytearray()
        counts = self.counts.by_status
        for entry in batch:
            if isinstance(entry, LineError):
                counts["rejected"] += 1
                out += error_answer(entry)
            else:
                status, text = answers[entry.line]
                counts[status] += 1
                out += text
        spool.write(bytes(out))

    async def _write(
        self, session: AsyncSession, items: list[Item]
    ) -> dict[int, tuple[str, bytes]]:
        options = self.options
        driver = await transaction_driver(session)
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
            args = [team, dataset, *item_arrays(to_insert), options.user_id]
            args.append(self._stamp(len(to_insert)))
            if client_ids:
                created = {row[0] for row in await driver.fetch(statement, *args)}
                leftovers = [item for item in to_insert if item.id not in created]
            else:
                await driver.execute(statement, *args)
                leftovers = []
            for item in to_insert:
                if item.line not in answers and (not client_ids or item.id in created):
                    answers[item.line] = ("created", answer(item.line, item.id, "created"))
            if leftovers:
                await self._compare(driver, leftovers, answers)
        return answers

    async def _compare(
        self, driver: Any, items: list[Item], answers: dict[int, tuple[str, bytes]]
    ) -> set[int]:
        """Answer the lines whose id is already taken; the set of their line numbers."""
        options = self.options
        team, dataset = options.team_id, options.dataset_id
        rows = await driver.fetch(COMPARE_SQL, team, dataset, *item_arrays(items))
        changed: list[Item] = []
        taken: set[int] = set()
        for position, ours, same in rows:
            item = items[position - 1]
            taken.add(item.line)
            if not ours:
                answers[item.line] = ("conflict", taken_answer(item))
            elif same:
                answers[item.line] = ("unchanged", answer(item.line, item.id, "unchanged"))
            elif options.upsert:
                changed.append(item)
            else:
                answers[item.line] = ("conflict", conflict_answer(item))
        if changed:
            args = [team, dataset, *item_arrays(changed), utcnow()]
            updated = {row[0] for row in await driver.fetch(UPDATE_SQL, *args)}
            for item in changed:
                if item.id in updated:
                    answers[item.line] = ("updated", answer(item.line, item.id, "updated"))
                else:
                    answers[item.line] = ("conflict", taken_answer(item))
        for item in items:
            # Taken by a concurrent writer and gone again before we looked: say so.
            if item.line not in taken and item.line not in answers:
                answers[item.line] = ("conflict", conflict_answer(item))
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
                answers[item.line] = ("duplicate", duplicate_answer(item, original))
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
