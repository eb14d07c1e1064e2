"""Schema pieces every feature shares: the project base model and the basic user object."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Annotated, Any

import orjson
from pydantic import BaseModel, ConfigDict, PlainSerializer
from sqlalchemy import ColumnClause, Text, cast, func, literal_column
from sqlalchemy.orm import InstrumentedAttribute

from app.models import User
from app.web.jsonutil import isoformat

# ISO 8601 UTC with microseconds and `Z` on the wire (SPEC §4).
Timestamp = Annotated[dt.datetime, PlainSerializer(isoformat, return_type=str, when_used="json")]


class APIModel(BaseModel):
    """Project base: reads ORM objects, ignores unknown input fields."""

    model_config = ConfigDict(from_attributes=True, extra="ignore", populate_by_name=True)


class UserBasic(APIModel):
    """PostHog's basic user object, used for `created_by`."""

    id: int
    uuid: uuid.UUID
    distinct_id: str | None
    first_name: str
    last_name: str
    email: str
    is_email_verified: bool | None
    hedgehog_config: dict[str, Any] | None
    role_at_organization: str | None


def user_basic(user: User | None) -> dict[str, Any] | None:
    """The basic user object as plain JSON-ready data (for hand-serialised hot paths)."""
    if user is None:
        return None
    return {
        "id": user.id,
        "uuid": str(user.uuid),
        "distinct_id": user.distinct_id,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "email": user.email,
        "is_email_verified": user.is_email_verified,
        "hedgehog_config": user.hedgehog_config,
        "role_at_organization": user.role_at_organization,
    }


# --- columns selected in wire form, for the hand-serialised hot paths -----------------------

# ISO 8601 in UTC with microseconds and `Z`: the same text as `app.jsonutil.isoformat`.
ISO_FORMAT: ColumnClause[str] = literal_column("""'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'""", Text)
UTC: ColumnClause[str] = literal_column("'UTC'", Text)


def as_text(column: InstrumentedAttribute[Any], name: str) -> Any:
    return cast(column, Text).label(name)


def as_timestamp(column: InstrumentedAttribute[Any], name: str) -> Any:
    return func.to_char(func.timezone(UTC, column), ISO_FORMAT).label(name)


def fragment(value: str | None) -> orjson.Fragment | None:
    # `jsonb` text output is valid JSON: splice it, skipping a parse and a re-encode per value.
    return None if value is None else orjson.Fragment(value)


USER_COLUMNS = (
    User.id.label("user_id"),
    as_text(User.uuid, "user_uuid"),
    User.distinct_id.label("user_distinct_id"),
    User.first_name.label("user_first_name"),
    User.last_name.label("user_last_name"),
    User.email.label("user_email"),
    User.is_email_verified.label("user_is_email_verified"),
    as_text(User.hedgehog_config, "user_hedgehog_config"),
    User.role_at_organization.label("user_role_at_organization"),
)


def user_from_columns(values: Sequence[Any]) -> dict[str, Any] | None:
    """The basic user object from `USER_COLUMNS` (all None: no user)."""
    user_id, user_uuid, distinct_id, first, last, email, verified, hedgehog, role = values
    if user_id is None:
        return None
    return {
        "id": user_id,
        "uuid": user_uuid,
        "distinct_id": distinct_id,
        "first_name": first,
        "last_name": last,
        "email": email,
        "is_email_verified": verified,
        "hedgehog_config": fragment(hedgehog),
        "role_at_organization": role,
    }
