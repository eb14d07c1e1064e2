"""Pydantic's validation errors worded the way Django REST Framework words them (SPEC §4).

`validation_error_from_pydantic` turns the first error into one 400 with DRF's `code`, its
exact `detail` and a dotted `attr`; a validator picks its own through `APIErrorCarrier`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from app.web.errors import APIErrorCarrier, ValidationFailed

_PYDANTIC_TO_DRF: dict[str, tuple[str, str | None]] = {
    "missing": ("required", "This field is required."),
    "string_too_long": ("max_length", None),
    "too_long": ("max_length", None),
    "string_too_short": ("blank", "This field may not be blank."),
    "too_short": ("min_length", None),
    "uuid_parsing": ("invalid", "Must be a valid UUID."),
    "uuid_type": ("invalid", "Must be a valid UUID."),
    "bool_parsing": ("invalid", "Must be a valid boolean."),
    "bool_type": ("invalid", "Must be a valid boolean."),
    "int_parsing": ("invalid", "A valid integer is required."),
    "int_type": ("invalid", "A valid integer is required."),
    "int_from_float": ("invalid", "A valid integer is required."),
    "datetime_parsing": ("invalid", None),
    "datetime_from_date_parsing": ("invalid", None),
    "datetime_type": ("invalid", None),
    "literal_error": ("invalid_choice", None),
    "enum": ("invalid_choice", None),
    "string_type": ("invalid", "Not a valid string."),
    "list_type": ("not_a_list", None),
    "dict_type": ("invalid", None),
    "model_type": ("invalid", None),
    "model_attributes_type": ("invalid", None),
    "json_invalid": ("parse_error", "JSON parse error."),
    "greater_than_equal": ("min_value", "Ensure this value is greater than or equal to {ge}."),
    "less_than_equal": ("max_value", "Ensure this value is less than or equal to {le}."),
    "greater_than": ("min_value", "Ensure this value is greater than {gt}."),
    "less_than": ("max_value", "Ensure this value is less than {lt}."),
}


def _attr_from_loc(loc: Sequence[int | str]) -> str | None:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    # Pydantic names union/function members in the location; they are not fields.
    parts = [p for p in parts if not p.startswith(("function-", "literal[", "union["))]
    return ".".join(parts) or None


def validation_error_from_pydantic(errors: Sequence[Any]) -> ValidationFailed:
    """Turn the first pydantic error into one DRF-style 400 with a dotted `attr`."""
    if not errors:
        return ValidationFailed()
    err = errors[0]
    kind = str(err.get("type", ""))
    attr = _attr_from_loc(err.get("loc", ()))
    code, detail = _PYDANTIC_TO_DRF.get(kind, ("invalid", None))
    if detail is None:
        message = str(err.get("msg", "Invalid input."))
        if message.startswith("Value error, "):
            message = message.removeprefix("Value error, ")
        if kind in ("literal_error", "enum"):
            message = f'"{err.get("input")}" is not a valid choice. {message}.'
        detail = message
    ctx = err.get("ctx") or {}
    template = _PYDANTIC_TO_DRF.get(kind, ("", None))[1]
    if template is not None and "{" in template:
        try:
            detail = template.format(**ctx)
        except (KeyError, IndexError, ValueError):
            detail = str(err.get("msg", "Invalid input."))
    if kind == "value_error" and isinstance(ctx.get("error"), APIErrorCarrier):
        carried = ctx["error"]
        code, detail = carried.code, carried.detail
    return ValidationFailed(detail, code=code, attr=attr)
