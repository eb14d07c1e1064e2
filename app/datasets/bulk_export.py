"""Bulk export of a dataset's items (NDJSON or CSV), streamed at constant memory.

One query through a server-side cursor: one snapshot for the whole walk (a cursor keeps the
snapshot it was opened with), `FETCH`ed in batches, each line rendered by PostgreSQL itself.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.datasets.bulk_formats import ITEM_KEYS
from app.datasets.bulk_sql import export_sql, transaction_driver

EXPORT_BATCH = 2000


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
        yield _csv_rows([list(ITEM_KEYS)])
    async with sessionmaker() as session:
        try:
            driver = await transaction_driver(session)
            cursor = await driver.cursor(export_sql(fmt, include_deleted), team_id, dataset_id)
            while rows := await cursor.fetch(EXPORT_BATCH):
                yield render(rows)
        finally:
            await session.rollback()
