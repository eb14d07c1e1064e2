"""Personal API keys: only a SHA-256 digest and a mask of the secret are stored."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import ForeignKey, Integer, String, func
from sqlalchemy.dialects.postgresql import ARRAY, UUID
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, utcnow, uuid7


class PersonalAPIKey(Base):
    __tablename__ = "personal_api_keys"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    label: Mapped[str] = mapped_column(String(40))
    secure_value: Mapped[str] = mapped_column(String(64), unique=True)
    mask_value: Mapped[str] = mapped_column(String(11))
    scopes: Mapped[list[str]] = mapped_column(ARRAY(String(64)))
    scoped_teams: Mapped[list[int] | None] = mapped_column(ARRAY(Integer), default=None)
    scoped_organizations: Mapped[list[uuid.UUID] | None] = mapped_column(
        ARRAY(UUID(as_uuid=True)), default=None
    )
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, server_default=func.now())
    last_used_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    # Authentication refuses a key once either is set and reached (`llma revoke-api-key`,
    # `--expires-in-days` / `--expires-at`).
    expires_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(default=None)
