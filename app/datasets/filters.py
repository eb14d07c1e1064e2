"""Parsing of the lists' filter parameters (`id__in`, `dataset`, `search`, `order_by`).

Parameters arrive as plain strings and are parsed here, after authentication, so a bad value is
a DRF-style 400 naming the parameter in `attr`.
"""

from __future__ import annotations

import uuid

from app.web.errors import ValidationFailed
from app.web.pagination import ORDER_BY_CHOICES


def comma_separated(values: list[str] | None) -> list[str]:
    """`a,b&x=c` and repeated parameters alike; blanks dropped."""
    return [part.strip() for value in values or () for part in value.split(",") if part.strip()]


def _uuid(value: str, attr: str) -> uuid.UUID:
    try:
        return uuid.UUID(value.strip())
    except ValueError:
        raise ValidationFailed("Must be a valid UUID.", code="invalid", attr=attr) from None


def uuid_list(values: list[str] | None, attr: str) -> list[uuid.UUID]:
    return [_uuid(part, attr) for part in comma_separated(values)]


def optional_uuid(value: str | None, attr: str) -> uuid.UUID | None:
    if value is None or not value.strip():
        return None
    return _uuid(value, attr)


def search_term(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    return value.strip()


def like_pattern(term: str) -> str:
    """`%term%` with the user's own `%`, `_` and `\\` matched literally."""
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def dataset_order_terms(values: list[str] | None) -> tuple[str, ...]:
    """Validated `order_by` terms, first occurrence of each field kept; `-created_at` default."""
    terms: list[str] = []
    for term in comma_separated(values):
        if term not in ORDER_BY_CHOICES:
            raise ValidationFailed(
                f"Select a valid choice. {term} is not one of the available choices.",
                code="invalid_choice",
                attr="order_by",
            )
        if all(kept.lstrip("-") != term.lstrip("-") for kept in terms):
            terms.append(term)
    return tuple(terms) or ("-created_at",)
