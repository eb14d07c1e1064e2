"""Experiments: a dataset run through LLM judges, their verdicts, chunks and call ledger."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint, Uuid, text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db.base import Base, utcnow, uuid7
from app.models.dataset import DatasetItem
from app.models.tenancy import User


class Experiment(Base):
    __tablename__ = "experiments"
    __table_args__ = (
        Index("ix_experiments_team_created", "team_id", text("created_at DESC"), "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"))
    dataset_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"))
    # Set for PostHog's single-target `evaluation_runs/`: only this item is judged.
    item_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, default=None)
    name: Mapped[str] = mapped_column(String(400))
    metadata_: Mapped[Any] = mapped_column(
        "metadata", JSONB(none_as_null=True), nullable=True, default=None
    )
    evaluation_ids: Mapped[list[uuid.UUID]] = mapped_column(ARRAY(Uuid))
    # {provider_key_id, model, prompt, temperature, max_tokens} or null (judge stored outputs).
    generate: Mapped[dict[str, Any] | None] = mapped_column(JSONB, default=None)
    status: Mapped[str] = mapped_column(String(16), default="queued")
    status_reason: Mapped[str | None] = mapped_column(String(200), default=None)
    total_items: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    total_pairs: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    chunks_total: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    chunks_done: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    # True once every chunk is written to experiment_chunks (planning may resume after a crash).
    planned: Mapped[bool] = mapped_column(default=False, server_default=text("false"))
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    created_by: Mapped[User | None] = relationship(lazy="raise")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, server_default=text("now()"))
    started_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    finished_at: Mapped[dt.datetime | None] = mapped_column(default=None)


class ExperimentChunk(Base):
    """A keyset slice of the dataset, `(after_id, last_id]` by item id: one queue job each."""

    __tablename__ = "experiment_chunks"

    experiment_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("experiments.id", ondelete="CASCADE"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    after_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, default=None)
    last_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    size: Mapped[int] = mapped_column(Integer)  # live items when planned
    done_at: Mapped[dt.datetime | None] = mapped_column(default=None)


class ExperimentResult(Base):
    """One verdict per (experiment, item, evaluation); its id is also the evaluation run's id."""

    __tablename__ = "experiment_results"
    __table_args__ = (
        UniqueConstraint("experiment_id", "dataset_item_id", "evaluation_id"),
        Index("ix_experiment_results_experiment_id", "experiment_id", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    experiment_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("experiments.id", ondelete="CASCADE")
    )
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"))
    dataset_item_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    evaluation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("evaluations.id", ondelete="CASCADE")
    )
    generated_output: Mapped[Any] = mapped_column(
        JSONB(none_as_null=True), nullable=True, default=None
    )
    verdict: Mapped[str] = mapped_column(String(8))  # pass | fail | na | error
    reasoning: Mapped[str] = mapped_column(Text, default="")
    latency_ms: Mapped[int | None] = mapped_column(Integer, default=None)
    input_tokens: Mapped[int | None] = mapped_column(Integer, default=None)
    output_tokens: Mapped[int | None] = mapped_column(Integer, default=None)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, server_default=text("now()"))


class ExperimentCall(Base):
    """The ledger: every provider call an experiment made (never the key itself)."""

    __tablename__ = "experiment_calls"
    __table_args__ = (Index("ix_experiment_calls_experiment_id", "experiment_id", "id"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    experiment_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("experiments.id", ondelete="CASCADE")
    )
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"))
    dataset_item_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, default=None)
    evaluation_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, default=None)  # null: generate
    purpose: Mapped[str] = mapped_column(String(16))  # judge | generate
    provider: Mapped[str] = mapped_column(String(32))
    model: Mapped[str] = mapped_column(String(200))
    provider_key_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, default=None)
    key_source: Mapped[str] = mapped_column(String(16))  # evaluation | active | default
    prompt_sha256: Mapped[str] = mapped_column(String(64))
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    latency_ms: Mapped[int] = mapped_column(Integer, default=0)
    input_tokens: Mapped[int | None] = mapped_column(Integer, default=None)
    output_tokens: Mapped[int | None] = mapped_column(Integer, default=None)
    outcome: Mapped[str] = mapped_column(String(16))
    error_class: Mapped[str | None] = mapped_column(String(64), default=None)
    error_message: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, server_default=text("now()"))


# Experiments walk a dataset's live items by id (keyset); none of the item indexes serve that.
Index(
    "ix_dataset_items_dataset_keyset",
    DatasetItem.dataset_id,
    DatasetItem.id,
    postgresql_where=text("NOT deleted"),
)
