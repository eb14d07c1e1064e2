"""Evaluation datasets and their items (SPEC §5.1, §5.2)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import Computed, ForeignKey, Index, LargeBinary, String, Text, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db.base import Base, TimestampMixin, uuid7
from app.models.tenancy import User

CONTENT_HASH_SQL = "sha256(jsonb_send(input) || jsonb_send(output))"


class Dataset(TimestampMixin, Base):
    __tablename__ = "datasets"
    __table_args__ = (
        Index(
            "ix_datasets_team_created",
            "team_id",
            text("created_at DESC"),
            "id",
            postgresql_where=text("NOT deleted"),
        ),
        Index(
            "ix_datasets_team_updated",
            "team_id",
            text("updated_at DESC"),
            "id",
            postgresql_where=text("NOT deleted"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(400))
    description: Mapped[str | None] = mapped_column(Text, default=None)
    metadata_: Mapped[Any] = mapped_column("metadata", JSONB(none_as_null=True), default=None)
    deleted: Mapped[bool] = mapped_column(default=False, server_default=text("false"))
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    created_by: Mapped[User | None] = relationship(lazy="raise")
    # Live items of the dataset, kept by statement-level triggers on dataset_items (migration
    # b5_bulk_items) in the writing transaction: lists read it instead of counting rows.
    item_count: Mapped[int] = mapped_column(default=0, server_default=text("0"))


class DatasetItem(TimestampMixin, Base):
    __tablename__ = "dataset_items"
    __table_args__ = (
        Index(
            "ix_dataset_items_team_dataset_created",
            "team_id",
            "dataset_id",
            text("created_at DESC"),
            "id",
            postgresql_where=text("NOT deleted"),
        ),
        Index(
            "ix_dataset_items_team_created",
            "team_id",
            text("created_at DESC"),
            "id",
            postgresql_where=text("NOT deleted"),
        ),
        # Makes the exact count of a dataset's live items an index-only scan (SPEC §5.2).
        Index(
            "ix_dataset_items_live_count",
            "team_id",
            "dataset_id",
            postgresql_where=text("NOT deleted"),
        ),
        # Duplicate-by-content lookups of bulk imports (`dedupe=content`).
        Index(
            "ix_dataset_items_content_hash",
            "team_id",
            "dataset_id",
            "content_hash",
            postgresql_where=text("NOT deleted"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"))
    dataset_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("datasets.id", ondelete="CASCADE"), index=True
    )
    input: Mapped[Any] = mapped_column(JSONB(none_as_null=True), default=None)
    output: Mapped[Any] = mapped_column(JSONB(none_as_null=True), default=None)
    metadata_: Mapped[Any] = mapped_column("metadata", JSONB(none_as_null=True), default=None)
    ref_trace_id: Mapped[str | None] = mapped_column(String(255), default=None)
    ref_source_id: Mapped[str | None] = mapped_column(String(255), default=None)
    ref_timestamp: Mapped[dt.datetime | None] = mapped_column(default=None)
    deleted: Mapped[bool] = mapped_column(default=False, server_default=text("false"))
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    created_by: Mapped[User | None] = relationship(lazy="raise")
    # sha256 over PostgreSQL's canonical jsonb text of (input, output), computed by the
    # database on every write path (create, PATCH, bulk import): `jsonb_send` is the version
    # byte 0x01 and the text, in which a raw 0x01 cannot occur, so the pair is unambiguous.
    content_hash: Mapped[bytes | None] = mapped_column(
        LargeBinary, Computed(CONTENT_HASH_SQL, persisted=True), nullable=True
    )
