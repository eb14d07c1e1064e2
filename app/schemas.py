"""Schema pieces every feature shares: the project base model and the basic user object."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, PlainSerializer

from app.jsonutil import isoformat
from app.models import User

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
