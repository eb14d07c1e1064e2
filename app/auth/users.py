"""PostHog's basic user object (`created_by`): its wire schema, its columns and its one renderer.

Every response that names a user renders it with `render_user`, from a row read by name: the
driver's rows select `USER_COLUMNS` (a LEFT JOIN, so a missing creator reads as all NULL), and
an ORM `User` becomes the same row through `user_row`.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from typing import Any

import orjson

from app.db.wire import as_text
from app.models import User
from app.web.schemas import APIModel


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


def user_row(user: User | None) -> dict[str, Any]:
    """An ORM user as a `USER_COLUMNS` row (None: the all-NULL row of a missing creator)."""
    if user is None:
        return {"user_id": None}
    hedgehog = user.hedgehog_config
    return {
        "user_id": user.id,
        "user_uuid": str(user.uuid),
        "user_distinct_id": user.distinct_id,
        "user_first_name": user.first_name,
        "user_last_name": user.last_name,
        "user_email": user.email,
        "user_is_email_verified": user.is_email_verified,
        "user_hedgehog_config": None if hedgehog is None else json.dumps(hedgehog),
        "user_role_at_organization": user.role_at_organization,
    }


def _json(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:  # integers beyond 64 bits
        return json.loads(text)


def render_user(row: Mapping[str, Any]) -> dict[str, Any] | None:
    """The basic user object from a row holding `USER_COLUMNS`; None when `user_id` is NULL.

    `hedgehog_config` is decoded (usually NULL), so the object also validates as `UserBasic`.
    """
    if row["user_id"] is None:
        return None
    return {
        "id": row["user_id"],
        "uuid": row["user_uuid"],
        "distinct_id": row["user_distinct_id"],
        "first_name": row["user_first_name"],
        "last_name": row["user_last_name"],
        "email": row["user_email"],
        "is_email_verified": row["user_is_email_verified"],
        "hedgehog_config": _json(row["user_hedgehog_config"]),
        "role_at_organization": row["user_role_at_organization"],
    }
