"""CSV bodies of a bulk import: a header row, then one item per record.

Quoted cells may span lines; `line` is the physical line the record starts on (the header is
line 1). `input` and `output` cells hold JSON when they parse as JSON and are taken as plain
strings otherwise; `metadata` must be JSON; an empty cell is null (and `false` for `deleted`).
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from typing import Any

import orjson

from app.datasets.bulk_formats import (
    ITEM_KEYS,
    InvalidField,
    Item,
    LineError,
    at_line,
    item_from_object,
    loads_json,
    too_long,
)


class HeaderError(Exception):
    def __init__(self, detail: str, attr: str) -> None:
        super().__init__(detail)
        self.detail, self.attr = detail, attr


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
            return loads_json(cell.encode())
        except ValueError:
            raise InvalidField("Value must be valid JSON.", "invalid", "metadata") from None
    return cell


def item_from_csv(line: int, header: list[str], cells: list[str]) -> Item | LineError:
    if len(cells) != len(header):
        return LineError(
            "invalid", f"The record has {len(cells)} cells; the header names {len(header)}."
        )
    try:
        obj = {name: _csv_cell(name, cell) for name, cell in zip(header, cells, strict=True)}
    except InvalidField as exc:
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
            yield at_line(number, too_long(max_line_bytes))
            continue
        try:
            decoded = raw.decode("utf-8")
        except UnicodeDecodeError:
            record, quotes = [], 0
            yield at_line(number, LineError("parse_error", "The line is not valid UTF-8."))
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
                yield at_line(start, too_long(max_line_bytes))
            continue  # a quoted cell goes on on the next line
        text_ = "\n".join(record)
        record, quotes = [], 0
        if not text_.strip():
            continue
        try:
            cells = next(csv.reader(io.StringIO(text_)))
        except csv.Error as exc:
            yield at_line(start, LineError("parse_error", f"CSV parse error: {exc}."))
            continue
        if header is None:
            header = [cell.strip() for cell in cells]
            unknown = sorted(set(header) - set(ITEM_KEYS))
            if unknown:
                raise HeaderError(f"Unknown CSV column '{unknown[0]}'.", unknown[0])
            continue
        yield at_line(start, item_from_csv(start, header, cells))
    if record:
        yield at_line(start, LineError("parse_error", "CSV parse error: unterminated quoted cell."))
