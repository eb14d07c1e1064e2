"""Bulk item formats: the request body split into items, each validated on its own.

A body arrives as chunks (`request.stream()`), possibly gzip-compressed, and leaves this module
as `(line, fields)` pairs or `(line, LineError)`, at constant memory: a line longer than the
per-line limit is skipped to its end, never buffered. Formats:

- NDJSON: one JSON object per line; blank lines are ignored. `line` is the physical line.
- CSV (`bulk_csv`): a header row, then one item per record.
- JSON array (`bulk_json`): `[{…}, {…}]`, split element by element by a small scanner.

Every item's fields are checked as `POST /dataset_items/` checks them (same codes and
messages, `attr` names the field); `id` is an optional client UUID.
"""

from __future__ import annotations

import codecs
import datetime as dt
import json
import uuid
import zlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import orjson

from app.datasets.fields import boolean, optional_datetime, parse_uuid, text
from app.datasets.serializers import json_text
from app.web.bodies import value_error
from app.web.errors import APIErrorCarrier

MEDIA_TYPES = {
    "application/x-ndjson": "ndjson",
    "application/ndjson": "ndjson",
    "application/jsonl": "ndjson",
    "application/x-jsonlines": "ndjson",
    "text/csv": "csv",
    "application/json": "json",
}
GZIP_MAGIC = b"\x1f\x8b"
ITEM_KEYS = (
    "id",
    "input",
    "output",
    "metadata",
    "ref_trace_id",
    "ref_source_id",
    "ref_timestamp",
    "deleted",
)
_ref = text(max_length=255, allow_blank=True, allow_null=True)


@dataclass(slots=True)
class LineError:
    code: str
    detail: str
    attr: str | None = None
    id: str | None = None
    line: int = 0


def at_line(line: int, result: Item | LineError) -> Item | LineError:
    if isinstance(result, LineError):
        result.line = line
    return result


@dataclass(slots=True)
class Item:
    """One valid input item: JSON fields as `jsonb` parameter text."""

    line: int
    id: uuid.UUID | None
    input: str
    output: str
    metadata: str
    ref_trace_id: str | None
    ref_source_id: str | None
    ref_timestamp: dt.datetime | None
    deleted: bool


class BodyError(Exception):
    """The body as a whole cannot be read (bad gzip stream)."""


# --- bytes → lines ----------------------------------------------------------------------------


async def decompressed(chunks: AsyncIterator[bytes], gzip: bool) -> AsyncIterator[bytes]:
    """The body's bytes; gunzipped when declared (`Content-Encoding: gzip`) or sniffed."""
    decompressor: Any = None
    first = True
    async for chunk in chunks:
        if not chunk:
            continue
        if first:
            first = False
            if gzip or chunk.startswith(GZIP_MAGIC):
                decompressor = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        if decompressor is None:
            yield chunk
            continue
        try:
            # Bounded output per call: a small compressed chunk cannot inflate unbounded.
            data = decompressor.decompress(chunk, 1 << 20)
            while data:
                yield data
                data = decompressor.decompress(decompressor.unconsumed_tail, 1 << 20)
        except zlib.error as exc:
            raise BodyError(f"The gzip stream is corrupt: {exc}.") from None
    if decompressor is not None and not decompressor.eof:
        raise BodyError("The gzip stream ends early.")


async def physical_lines(
    data: AsyncIterator[bytes], max_line_bytes: int
) -> AsyncIterator[tuple[int, bytes | None]]:
    """`(line number, bytes without the newline)`; `None` for a line over the limit."""
    buffer = b""
    number = 0
    skipping = False
    async for chunk in data:
        start = 0
        while True:
            end = chunk.find(b"\n", start)
            if end < 0:
                if skipping:
                    break
                buffer += chunk[start:]
                if len(buffer) > max_line_bytes:
                    buffer = b""
                    skipping = True
                break
            number += 1
            if skipping:
                skipping = False
                yield number, None
            else:
                line = buffer + chunk[start:end] if buffer else chunk[start:end]
                buffer = b""
                yield number, (line if len(line) <= max_line_bytes else None)
            start = end + 1
    if skipping:
        yield number + 1, None
    elif buffer:
        yield number + 1, buffer


# --- lines → items ----------------------------------------------------------------------------


def _json_value(value: Any, attr: str) -> str:
    encoded = json_text(value)
    refused = value_error(value, encoded, attr)
    if refused is not None:
        raise InvalidField(refused.detail, refused.code, attr)
    return encoded


class InvalidField(Exception):
    def __init__(self, detail: str, code: str, attr: str | None) -> None:
        self.detail, self.code, self.attr = detail, code, attr


def _field(name: str, check: Any, value: Any) -> Any:
    try:
        return check(value)
    except APIErrorCarrier as exc:
        raise InvalidField(exc.detail, exc.code, name) from None


def item_from_object(line: int, obj: Any) -> Item | LineError:
    """Validate one decoded item object."""
    if not isinstance(obj, dict):
        kind = type(obj).__name__.replace("NoneType", "null")
        return LineError("invalid", f"Invalid data. Expected a dictionary, but got {kind}.")
    raw_id = obj.get("id")
    try:
        item_id = None if raw_id is None else _field("id", parse_uuid, raw_id)
        return Item(
            line=line,
            id=item_id,
            input=_json_value(obj.get("input"), "input"),
            output=_json_value(obj.get("output"), "output"),
            metadata=_json_value(obj.get("metadata"), "metadata"),
            ref_trace_id=_field("ref_trace_id", _ref, obj.get("ref_trace_id")),
            ref_source_id=_field("ref_source_id", _ref, obj.get("ref_source_id")),
            ref_timestamp=_field("ref_timestamp", optional_datetime, obj.get("ref_timestamp")),
            deleted=_field("deleted", boolean, obj.get("deleted", False)),
        )
    except InvalidField as exc:
        shown = raw_id if isinstance(raw_id, str) and len(raw_id) <= 64 else None
        return LineError(exc.code, exc.detail, exc.attr, shown)


def loads_json(raw: bytes) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        # orjson refuses integers beyond 64 bits, which `json` reads.
        return json.loads(raw)


def item_from_json(line: int, raw: bytes) -> Item | LineError:
    try:
        obj = loads_json(raw)
    except UnicodeDecodeError:
        return LineError("parse_error", "The line is not valid UTF-8.")
    except ValueError as exc:
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError:
            return LineError("parse_error", "The line is not valid UTF-8.")
        return LineError("parse_error", f"JSON parse error: {exc}.")
    return item_from_object(line, obj)


def too_long(max_line_bytes: int) -> LineError:
    return LineError("line_too_long", f"The line is longer than {max_line_bytes} bytes.")


async def ndjson_items(
    lines: AsyncIterator[tuple[int, bytes | None]], max_line_bytes: int
) -> AsyncIterator[Item | LineError]:
    async for number, raw in lines:
        if raw is None:
            yield at_line(number, too_long(max_line_bytes))
        elif raw.strip():
            yield at_line(number, item_from_json(number, raw))


def utf8_prefix_ok(data: bytes) -> bool:
    """Whether the body's first bytes are UTF-8 (a sequence cut at the end is fine)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        decoder.decode(data, final=False)
    except UnicodeDecodeError:
        return False
    return True
