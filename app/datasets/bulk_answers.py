"""What an import answers: one line per input line, and the spool the answers go through.

The answers go through a spool file rather than straight to the client: a client that sends
its whole body before reading (most HTTP clients) would otherwise stop reading while the
server waits to send, and both would wait forever. The spool lets the import run at the
database's pace whatever the client does, and holds no answers in memory.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import orjson

from app.datasets.bulk_formats import Item, LineError

STATUSES = ("created", "updated", "unchanged", "duplicate", "conflict", "rejected")


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


def answer(line: int, item_id: Any, status: str) -> bytes:
    return f'{{"line":{line},"id":"{item_id}","status":"{status}"}}\n'.encode()


def error_answer(error: LineError) -> bytes:
    body = {"code": error.code, "detail": error.detail, "attr": error.attr}
    return (
        orjson.dumps({"line": error.line, "id": error.id, "status": "rejected", "error": body})
        + b"\n"
    )


def _conflict(item: Item, code: str, detail: str) -> bytes:
    body = {"code": code, "detail": detail, "attr": "id"}
    answer = {"line": item.line, "id": str(item.id), "status": "conflict", "error": body}
    return orjson.dumps(answer) + b"\n"


def conflict_answer(item: Item) -> bytes:
    detail = "An item with this id exists with other content; mode=upsert replaces it."
    return _conflict(item, "conflict", detail)


def taken_answer(item: Item) -> bytes:
    return _conflict(item, "id_taken", "This id belongs to an item outside this dataset.")


def duplicate_answer(item: Item, original: str) -> bytes:
    body = {"line": item.line, "id": None, "status": "duplicate", "duplicate_of": original}
    return orjson.dumps(body) + b"\n"
