"""Bulk item formats: the request body split into items, each validated on its own.

A body arrives as chunks (`request.stream()`), possibly gzip-compressed, and leaves this module
as `(line, fields)` pairs or `(line, LineError)`, at constant memory: a line longer than the
per-line limit is skipped to its end, never buffered. Formats:

- NDJSON: one JSON object per line; blank lines are ignored. `line` is the physical line.
- CSV: a header row, then one item per record (quoted cells may span lines). `line` is the
  physical line the record starts on (the header is line 1). `input` and `output` cells hold
  JSON when they parse as JSON and are taken as plain strings otherwise; `metadata` must be
  JSON; an empty cell is null (and `false` for `deleted`).
- JSON array: `[{…}, {…}]`, split element by element by a small scanner. `line` is the
  element's position, from 1.

Every item's fields are checked as `POST /dataset_items/` checks them (same codes and
messages, `attr` names the field); `id` is an optional client UUID.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import json
import re
import uuid
import zlib
from collections.abc import AsyncIterator, Iterator
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


def _at(line: int, result: Item | LineError) -> Item | LineError:
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


class TooManyLines(Exception):
    pass


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
        raise _Invalid(refused.detail, refused.code, attr)
    return encoded


class _Invalid(Exception):
    def __init__(self, detail: str, code: str, attr: str | None) -> None:
        self.detail, self.code, self.attr = detail, code, attr


def _field(name: str, check: Any, value: Any) -> Any:
    try:
        return check(value)
    except APIErrorCarrier as exc:
        raise _Invalid(exc.detail, exc.code, name) from None


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
    except _Invalid as exc:
        shown = raw_id if isinstance(raw_id, str) and len(raw_id) <= 64 else None
        return LineError(exc.code, exc.detail, exc.attr, shown)


def _loads(raw: bytes) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        # orjson refuses integers beyond 64 bits, which `json` reads.
        return json.loads(raw)


def item_from_json(line: int, raw: bytes) -> Item | LineError:
    try:
        obj = _loads(raw)
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
            yield _at(number, too_long(max_line_bytes))
        elif raw.strip():
            yield _at(number, item_from_json(number, raw))


# CSV: the cells of `input` and `output` are JSON when they parse, strings otherwise.
CSV_JSON_OR_TEXT = frozenset({"input", "output"})


def _csv_cell(name: str, cell: str) -> Any:
    if cell == "":
        return None
    if name in CSV_JSON_OR_TEXT:
        try:
            return orjson.loads(cell)
        except orjson.JSONDecodeError:
            return cell
    if name == "metadata":
        try:
            return _loads(cell.encode())
        except ValueError:
            raise _Invalid("Value must be valid JSON.", "invalid", "metadata") from None
    return cell


def item_from_csv(line: int, header: list[str], cells: list[str]) -> Item | LineError:
    if len(cells) != len(header):
        return LineError(
            "invalid", f"The record has {len(cells)} cells; the header names {len(header)}."
        )
    try:
        obj = {name: _csv_cell(name, cell) for name, cell in zip(header, cells, strict=True)}
    except _Invalid as exc:
        return LineError(exc.code, exc.detail, exc.attr)
    if obj.get("deleted") is None:
        obj.pop("deleted", None)
    return item_from_object(line, obj)


async def csv_items(
    lines: AsyncIterator[tuple[int, bytes | None]], max_line_bytes: int
) -> AsyncIterator[Item | LineError]:
    header: list[str] | None = None
    record: list[str] = []
    quotes = 0
    start = 0
    async for number, raw in lines:
        if raw is None:
            record, quotes = [], 0
            yield _at(number, too_long(max_line_bytes))
            continue
        try:
            decoded = raw.decode("utf-8")
        except UnicodeDecodeError:
            record, quotes = [], 0
            yield _at(number, LineError("parse_error", "The line is not valid UTF-8."))
            continue
        if not record:
            start = number
            if header is None and decoded.startswith("\ufeff"):
                decoded = decoded[1:]
        record.append(decoded)
        quotes += decoded.count('"')
        if quotes % 2:
            if sum(len(part) for part in record) > max_line_bytes:
                record, quotes = [], 0
                yield _at(start, too_long(max_line_bytes))
            continue  # a quoted cell goes on on the next line
        text_ = "\n".join(record)
        record, quotes = [], 0
        if not text_.strip():
            continue
        try:
            cells = next(csv.reader(io.StringIO(text_)))
        except csv.Error as exc:
            yield _at(start, LineError("parse_error", f"CSV parse error: {exc}."))
            continue
        if header is None:
            header = [cell.strip() for cell in cells]
            unknown = sorted(set(header) - set(ITEM_KEYS))
            if unknown:
                raise HeaderError(f"Unknown CSV column '{unknown[0]}'.", unknown[0])
            continue
        yield _at(start, item_from_csv(start, header, cells))
    if record:
        yield _at(start, LineError("parse_error", "CSV parse error: unterminated quoted cell."))


class HeaderError(Exception):
    def __init__(self, detail: str, attr: str) -> None:
        super().__init__(detail)
        self.detail, self.attr = detail, attr


# JSON array: a scanner that finds where each top-level element ends, tracking strings and
# nesting, and jumps between the few bytes that matter with one regular expression.
_SPECIAL = re.compile(rb'["\\\[\]{},]')
_IN_STRING = re.compile(rb'["\\]')


class ArrayScanner:
    def __init__(self) -> None:
        self.started = False
        self.ended = False
        self.depth = 0
        self.in_string = False
        self.escape = False
        self.element = bytearray()
        self.dropped = False  # the element under way outgrew the limit and is being skipped

    def _complete(self) -> bytes | None:
        element = None if self.dropped else bytes(self.element)
        self.element.clear()
        self.dropped = False
        return element

    def feed(self, chunk: bytes) -> Iterator[bytes | None]:
        """Complete top-level elements found in this chunk (None: one that was too long)."""
        """Complete top-level elements found in this chunk."""
        position = 0
        if not self.started:
            stripped = chunk.lstrip()
            if not stripped:
                return
            if stripped[:1] != b"[":
                raise BodyError("A JSON body must be an array of items.")
            self.started = True
            position = len(chunk) - len(stripped) + 1
        size = len(chunk)
        while position < size:
            if self.ended:
                if chunk[position:].strip():
                    raise BodyError("Extra data after the JSON array.")
                return
            if self.escape:
                self.escape = False
                self.element += chunk[position : position + 1]
                position += 1
                continue
            pattern = _IN_STRING if self.in_string else _SPECIAL
            match = pattern.search(chunk, position)
            if match is None:
                self.element += chunk[position:]
                return
            at = match.start()
            byte = chunk[at : at + 1]
            self.element += chunk[position:at]
            position = at + 1
            if self.in_string:
                self.element += byte
                if byte == b"\\":
                    self.escape = True
                else:
                    self.in_string = False
                continue
            if byte == b'"':
                self.in_string = True
                self.element += byte
            elif byte in (b"[", b"{"):
                self.depth += 1
                self.element += byte
            elif byte in (b"]", b"}") and self.depth > 0:
                self.depth -= 1
                self.element += byte
            elif byte == b"]":
                self.ended = True
                if self.dropped or bytes(self.element).strip():
                    yield self._complete()
            elif byte == b"," and self.depth == 0:
                yield self._complete()
            else:
                self.element += byte

    def close(self) -> None:
        if not self.ended:
            raise BodyError("The JSON array is not closed.")


async def json_array_items(
    data: AsyncIterator[bytes], max_line_bytes: int
) -> AsyncIterator[Item | LineError]:
    scanner = ArrayScanner()
    number = 0
    async for chunk in data:
        for element in scanner.feed(chunk):
            number += 1
            if element is None or len(element) > max_line_bytes:
                yield _at(number, too_long(max_line_bytes))
            else:
                yield _at(number, item_from_json(number, element))
        if len(scanner.element) > max_line_bytes:
            # Skip to the end of this oversized element without buffering it.
            scanner.element.clear()
            scanner.dropped = True
    scanner.close()


def utf8_prefix_ok(data: bytes) -> bool:
    """Whether the body's first bytes are UTF-8 (a sequence cut at the end is fine)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        decoder.decode(data, final=False)
    except UnicodeDecodeError:
        return False
    return True
