"""Decoding request bodies: JSON and form fields, and the limits every body must meet.

JSON is parsed by orjson; integers beyond 64 bits, which orjson reads as floats, are kept exact by
parsing such a body again with the standard library. A body may nest at most `MAX_JSON_DEPTH`
levels and may hold no NUL character (PostgreSQL cannot store one). Everything here is a pure
function of the bytes, so `app.routing` can run it in a worker thread for large bodies.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl

import orjson

from app.web.errors import APIError, UnsupportedMediaType, ValidationFailed

# Deep enough for any real document, far below orjson's own limits (1024 to parse, 254 to
# render: a response wraps a stored value in up to three more levels).
MAX_JSON_DEPTH = 64
FORM = "application/x-www-form-urlencoded"
# Larger bodies are decoded in a worker thread, so the event loop keeps serving other requests.
THREAD_THRESHOLD_BYTES = 64 * 1024
NUL_DETAIL = "Null characters are not allowed."
DEPTH_DETAIL = f"JSON nesting is too deep: at most {MAX_JSON_DEPTH} levels are allowed."
_NUL_MARKERS = (b"\\u0000", b"\x00", b"%00")
# orjson reads integers outside [-2**63, 2**64) as floats; any such float has this magnitude.
_BIG = 9.2e18
# Every digit maps to "0", everything else to " ": a run of 19 zeros is a long number (or a
# long digit run in a string, which only costs a second parse).
_DIGITS = bytes(ord("0") if chr(i) in "0123456789" else ord(" ") for i in range(256))
_LONG_NUMBER = b"0" * 19


def media_type(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


def is_json(media: str) -> bool:
    return media in ("", "application/json") or media.endswith("+json")


def is_decodable(media: str) -> bool:
    return is_json(media) or media == FORM


def decode(raw: bytes, media: str) -> tuple[Any, APIError | None]:
    """The body as a dict (`{}` when it is refused) and what is wrong with it, if anything."""
    if not raw.strip():
        return {}, None
    if is_json(media):
        try:
            parsed: Any = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return {}, ValidationFailed("JSON parse error.", code="parse_error")
        parsed, error = _checked_json(raw, parsed)
        if error is not None:
            return {}, error
    elif media == FORM:
        try:
            parsed = dict(parse_qsl(raw.decode("utf-8"), keep_blank_values=True))
        except UnicodeDecodeError:
            return {}, ValidationFailed("Form body is not valid UTF-8.", code="parse_error")
        if _may_hold_nul(raw):
            where = next((k for k, v in parsed.items() if "\x00" in k or "\x00" in v), None)
            if where is not None:
                return {}, nul_error(where)
    else:
        return {}, unsupported(media)
    if not isinstance(parsed, dict):
        kind = type(parsed).__name__.replace("NoneType", "null")
        detail = f"Invalid data. Expected a dictionary, but got {kind}."
        return {}, ValidationFailed(detail, code="invalid")
    return parsed, None


def unsupported(media: str) -> UnsupportedMediaType:
    return UnsupportedMediaType(f'Unsupported media type "{media}" in request.')


def nul_error(attr: str | None) -> ValidationFailed:
    return ValidationFailed(NUL_DETAIL, code="null_characters_not_allowed", attr=attr)


def value_error(value: Any, encoded: str, attr: str) -> ValidationFailed | None:
    """What a decoded value (`encoded`: its JSON text) would be refused for inside a body: a NUL
    (PostgreSQL's jsonb cannot store U+0000) or nesting past MAX_JSON_DEPTH; None when fine."""
    check_nul = "\\u0000" in encoded
    if not check_nul and encoded.count("[") + encoded.count("{") <= MAX_JSON_DEPTH:
        return None
    found = _walk(value, check_nul)
    if found.too_deep is not None:
        return ValidationFailed(DEPTH_DETAIL, code="max_depth", attr=attr)
    if found.nul is not None:
        return nul_error(attr)
    return None


def _may_hold_nul(raw: bytes) -> bool:
    return any(marker in raw for marker in _NUL_MARKERS)


def _checked_json(raw: bytes, parsed: Any) -> tuple[Any, APIError | None]:
    check_nul = _may_hold_nul(raw)
    # A document with at most MAX_JSON_DEPTH brackets cannot nest deeper: no walk needed.
    if check_nul or raw.count(b"[") + raw.count(b"{") > MAX_JSON_DEPTH:
        found = _walk(parsed, check_nul)
        if found.too_deep is not None:
            attr = found.too_deep[0] if found.too_deep else None
            return None, ValidationFailed(DEPTH_DETAIL, code="max_depth", attr=attr)
        if found.nul is not None:
            return None, nul_error(".".join(found.nul) or None)
        exact = found.big_float
    else:
        exact = _LONG_NUMBER in raw.translate(_DIGITS)
    if exact:
        # orjson has accepted the document, so the standard library reads the same structure;
        # it keeps integers of any size (the depth is checked, so no deep recursion).
        parsed = json.loads(raw)
    return parsed, None


class _Found:
    __slots__ = ("big_float", "nul", "too_deep")

    def __init__(self) -> None:
        self.too_deep: tuple[str, ...] | None = None
        self.nul: tuple[str, ...] | None = None
        self.big_float = False


def _children(value: dict[str, Any] | list[Any]) -> Iterator[tuple[Any, Any]]:
    return iter(value.items()) if type(value) is dict else enumerate(value)


def _walk(root: Any, check_nul: bool) -> _Found:
    """One pass in document order, without recursion: the depth, the first NUL, big numbers."""
    found = _Found()
    if type(root) is str:
        if check_nul and "\x00" in root:
            found.nul = ()
        return found
    if type(root) is not dict and type(root) is not list:
        return found
    stack: list[tuple[Iterator[tuple[Any, Any]], tuple[str, ...]]] = [(_children(root), ())]
    while stack:
        children, path = stack[-1]
        for key, child in children:
            kind = type(child)
            if check_nul and type(key) is str and "\x00" in key:
                found.nul = (*path, key)
                return found
            if kind is str:
                if check_nul and "\x00" in child:
                    found.nul = (*path, str(key))
                    return found
            elif kind is dict or kind is list:
                child_path = (*path, str(key))
                if len(stack) + 1 > MAX_JSON_DEPTH:
                    found.too_deep = child_path
                    return found
                stack.append((_children(child), child_path))
                break
            elif kind is float and (child >= _BIG or child <= -_BIG):
                found.big_float = True
        else:
            stack.pop()
    return found
