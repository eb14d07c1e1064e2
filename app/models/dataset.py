"""Evaluation datasets and their items (SPEC §5.1, §5.2)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import (
    BigInteger,
    Computed,
    ForeignKey,
    Index,
    LargeBinary,
    SmallInteger,
    String,
    Text,
    text,
)
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


class DatasetItemCount(Base):
    """A share of a dataset's live-item count: the dataset's count is the sum of its shards.

    Statement-level triggers on dataset_items (migrations b5_bulk_items, b7_item_count_shards)
    add each statement's delta, in the writing transaction, to shard `pg_backend_pid() % 16`:
    concurrent writers of one dataset mostly lock different rows. Lists read the sum
    (`app.datasets.serializers.ITEM_COUNT`) instead of counting items.
    """

    __tablename__ = "dataset_item_counts"

    dataset_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("datasets.id", ondelete="CASCADE"), primary_key=True
    )
    shard: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    n: Mapped[int] = mapped_column(BigInteger)


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
