"""LLM-judge evaluations and their runs (SPEC §5.7)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import ForeignKey, Index, PrimaryKeyConstraint, String, Text, Uuid, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db.base import Base, TimestampMixin, utcnow, uuid7
from app.models.tenancy import User


class Evaluation(TimestampMixin, Base):
    __tablename__ = "evaluations"
    __table_args__ = (
        Index(
            "ix_evaluations_team_created",
            "team_id",
            text("created_at DESC"),
            "id",
            postgresql_where=text("NOT deleted"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(400))
    description: Mapped[str] = mapped_column(Text, default="")
    enabled: Mapped[bool] = mapped_column(default=True)
    evaluation_type: Mapped[str] = mapped_column(String(32), default="llm_judge")
    evaluation_config: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    output_type: Mapped[str] = mapped_column(String(32), default="boolean")
    output_config: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    conditions: Mapped[Any] = mapped_column(JSONB(none_as_null=True), default=None)
    # {provider, model, provider_key_id}; the FK column below goes NULL when the key is
    # deleted, which is how status becomes `error` / `provider_key_deleted`.
    model_configuration: Mapped[dict[str, Any] | None] = mapped_column(JSONB, default=None)
    model_provider_key_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("llm_provider_keys.id", ondelete="SET NULL"), default=None
    )
    deleted: Mapped[bool] = mapped_column(default=False, server_default=text("false"))
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    created_by: Mapped[User | None] = relationship(lazy="raise")


class EvaluationRun(Base):
    __tablename__ = "evaluation_runs"
    __table_args__ = (
        # A run is identified within its team and evaluation: ids of other teams or other
        # evaluations never collide with it (SPEC §5.7).
        PrimaryKeyConstraint("team_id", "evaluation_id", "id"),
        Index(
            "ix_evaluation_runs_team_eval_ts",
            "team_id",
            "evaluation_id",
            text("timestamp DESC"),
            text("id DESC"),
        ),
    )

    # Client-supplied ids make ingestion idempotent: a repeated id is a duplicate.
    id: Mapped[uuid.UUID] = mapped_column(default=uuid7)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"))
    evaluation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("evaluations.id", ondelete="CASCADE")
    )
    generation_id: Mapped[str] = mapped_column(String(400))
    trace_id: Mapped[str | None] = mapped_column(String(400), default=None)
    result: Mapped[bool | None] = mapped_column(default=None)
    applicable: Mapped[bool | None] = mapped_column(default=None)
    reasoning: Mapped[str] = mapped_column(Text, default="")
    timestamp: Mapped[dt.datetime] = mapped_column(default=utcnow)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, server_default=text("now()"))
    # Set when the run is an experiment's verdict (app/experiments): which experiment, which item.
    experiment_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("experiments.id", ondelete="SET NULL"), default=None
    )
    dataset_item_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, default=None)
