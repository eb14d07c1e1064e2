"""JSON-array bodies of a bulk import: `[{…}, {…}]`, split element by element at constant memory.

`line` is the element's position, from 1; an element longer than the per-line limit is
skipped to its end, never buffered.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator

from app.datasets.bulk_formats import BodyError, Item, LineError, at_line, item_from_json, too_long

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
                yield at_line(number, too_long(max_line_bytes))
            else:
                yield at_line(number, item_from_json(number, element))
        if len(scanner.element) > max_line_bytes:
            # Skip to the end of this oversized element without buffering it.
            scanner.element.clear()
            scanner.dropped = True
    scanner.close()
