"""JSON encoding with orjson: the one response class every endpoint answers with."""

from __future__ import annotations

import datetime as dt
from typing import Any

import orjson
from starlette.responses import JSONResponse as StarletteJSONResponse


def isoformat(value: dt.datetime) -> str:
    """ISO 8601 UTC with microseconds and `Z`, as SPEC §4 wants every timestamp."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    value = value.astimezone(dt.UTC)
    # strftime("%Y") does not zero-pad years before 1000 on Linux.
    return f"{value.year:04d}-{value.strftime('%m-%dT%H:%M:%S.%f')}Z"


def _default(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return isoformat(value)
    raise TypeError(f"cannot encode {type(value).__name__}")


def dumps(value: Any) -> bytes:
    # orjson's own datetime format drops zero microseconds; ours always prints them.
    try:
        return orjson.dumps(value, default=_default, option=orjson.OPT_PASSTHROUGH_DATETIME)
    except orjson.JSONEncodeError:
        # orjson refuses integers beyond 64 bits, which client JSON may hold (kept exactly).
        return orjson.dumps(
            _big_ints_spliced(value), default=_default, option=orjson.OPT_PASSTHROUGH_DATETIME
        )


_INT64 = range(-(2**63), 2**64)


def _big_ints_spliced(value: Any) -> Any:
    """A copy with every integer orjson cannot encode replaced by its exact JSON text.

    Request bodies nest at most `app.bodies.MAX_JSON_DEPTH` levels, so recursion is shallow.
    """
    if type(value) is int:
        return value if value in _INT64 else orjson.Fragment(str(value))
    if isinstance(value, dict):
        return {key: _big_ints_spliced(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_big_ints_spliced(item) for item in value]
    return value


class JSONResponse(StarletteJSONResponse):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return dumps(content)
