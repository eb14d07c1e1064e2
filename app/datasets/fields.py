"""Input field types that parse and word their errors the way DRF's serializer fields do.

Each is an `Annotated` type whose before-validator does all the work and raises
`APIErrorCarrier`, so the 400 carries DRF's exact `code` and message ("This field may not be
blank.", "Must be a valid UUID.", …) with the field name as `attr`. (NUL characters, which
PostgreSQL cannot store, are refused for every body and query by `app.routing`.)
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, WithJsonSchema

from app.web.booleans import FALSE_VALUES, TRUE_VALUES
from app.web.errors import APIErrorCarrier

DATETIME_FORMAT = (
    "Datetime has wrong format. Use one of these formats instead: "
    "YYYY-MM-DDThh:mm[:ss[.uuuuuu]][+HH:MM|-HH:MM|Z]."
)


def _not_null(value: Any) -> None:
    if value is None:
        raise APIErrorCarrier("This field may not be null.", "null")


def text(*, max_length: int | None, allow_blank: bool, allow_null: bool) -> Callable[[Any], Any]:
    """DRF CharField: numbers become strings, whitespace is trimmed, NUL is refused."""

    def validate(value: Any) -> str | None:
        if value is None and allow_null:
            return None
        _not_null(value)
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise APIErrorCarrier("Not a valid string.")
        cleaned = str(value).strip()
        if not cleaned and not allow_blank:
            raise APIErrorCarrier("This field may not be blank.", "blank")
        if max_length is not None and len(cleaned) > max_length:
            raise APIErrorCarrier(
                f"Ensure this field has no more than {max_length} characters.", "max_length"
            )
        return cleaned

    return validate


def boolean(value: Any) -> bool:
    _not_null(value)
    if value is True or value is False:
        return value
    if isinstance(value, str):
        if value in TRUE_VALUES:
            return True
        if value in FALSE_VALUES:
            return False
    elif isinstance(value, int | float) and value in (0, 1):
        return value == 1
    raise APIErrorCarrier("Must be a valid boolean.")


def parse_uuid(value: Any) -> uuid.UUID:
    _not_null(value)
    if isinstance(value, uuid.UUID):
        return value
    if isinstance(value, str):
        try:
            return uuid.UUID(value.strip())
        except ValueError:
            pass
    raise APIErrorCarrier("Must be a valid UUID.")


def optional_datetime(value: Any) -> dt.datetime | None:
    """ISO 8601; naive values are UTC; "" reads as null (form bodies cannot send null)."""
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        parsed = value
    elif isinstance(value, str):
        try:
            parsed = dt.datetime.fromisoformat(value.strip())
        except ValueError:
            raise APIErrorCarrier(DATETIME_FORMAT) from None
    else:
        raise APIErrorCarrier(DATETIME_FORMAT)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    try:
        return parsed.astimezone(dt.UTC)
    except OverflowError:
        raise APIErrorCarrier(DATETIME_FORMAT) from None


_name = text(max_length=400, allow_blank=False, allow_null=False)
_ref = text(max_length=255, allow_blank=True, allow_null=True)

Name = Annotated[str, BeforeValidator(_name), Field(min_length=1, max_length=400)]
Description = Annotated[
    str | None, BeforeValidator(text(max_length=None, allow_blank=True, allow_null=True))
]
RefString = Annotated[
    str | None,
    BeforeValidator(_ref),
    WithJsonSchema({"anyOf": [{"type": "string", "maxLength": 255}, {"type": "null"}]}),
]
Boolean = Annotated[bool, BeforeValidator(boolean)]
DatasetRef = Annotated[uuid.UUID, BeforeValidator(parse_uuid)]
RefTimestamp = Annotated[dt.datetime | None, BeforeValidator(optional_datetime)]

# PATCH variants: optional (None when left out) yet refusing an explicit null. The validator
# wraps the whole `X | None`, so it sees the null; the schema documents the non-null type.
NameUpdate = Annotated[
    str | None,
    BeforeValidator(_name),
    WithJsonSchema({"type": "string", "minLength": 1, "maxLength": 400}),
]
BooleanUpdate = Annotated[
    bool | None, BeforeValidator(boolean), WithJsonSchema({"type": "boolean"})
]
DatasetRefUpdate = Annotated[
    uuid.UUID | None,
    BeforeValidator(parse_uuid),
    WithJsonSchema({"type": "string", "format": "uuid"}),
]
