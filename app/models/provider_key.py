"""Teams' own LLM provider keys (secret stored as a Fernet token) and the evaluation config."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import ForeignKey, Index, String, Text, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db.base import Base, TimestampMixin, uuid7
from app.models.tenancy import User


class LLMProviderKey(TimestampMixin, Base):
    __tablename__ = "llm_provider_keys"
    __table_args__ = (
        Index("ix_llm_provider_keys_team_created", "team_id", text("created_at DESC")),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"))
    provider: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(255))
    state: Mapped[str] = mapped_column(String(16), default="unknown")
    error_message: Mapped[str | None] = mapped_column(Text, default=None)
    # Fernet token of the API key; decrypted explicitly in the service, never on load.
    encrypted_api_key: Mapped[str] = mapped_column(Text)
    api_key_masked: Mapped[str] = mapped_column(String(32))
    azure_endpoint: Mapped[str | None] = mapped_column(String(2048), default=None)
    api_version: Mapped[str | None] = mapped_column(String(64), default=None)
    base_url: Mapped[str | None] = mapped_column(String(2048), default=None)
    # The provider's live model list, cached per key (SPEC §5.5); any PATCH clears it.
    models_cache: Mapped[list[str] | None] = mapped_column(JSONB, default=None)
    models_cached_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    created_by: Mapped[User | None] = relationship(lazy="raise")


class EvaluationConfig(TimestampMixin, Base):
    __tablename__ = "evaluation_configs"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), unique=True)
    trial_eval_limit: Mapped[int] = mapped_column(default=100)
    trial_evals_used: Mapped[int] = mapped_column(default=0, server_default=text("0"))
    active_provider_key_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("llm_provider_keys.id", ondelete="SET NULL"), default=None
    )
    active_provider_key: Mapped[LLMProviderKey | None] = relationship(lazy="raise")
