"""The ORM base (one metadata, a naming convention for Alembic), ids and timestamps."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, ClassVar

import uuid_utils.compat as uuid_compat
from sqlalchemy import DateTime, Interval, MetaData, func, literal_column
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {dt.datetime: DateTime(timezone=True)}


def uuid7() -> uuid.UUID:
    """A time-ordered UUID (v7): ids sort by creation and keep b-tree inserts local."""
    return uuid_compat.uuid7()


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


# `updated_at` is stamped by PostgreSQL as it writes the row, once any row lock is granted, and
# always moves forward: a write acknowledged later never carries an earlier stamp than one that
# committed before it. (A stamp taken in Python before the UPDATE waited for the lock could.)
# `clock_timestamp()`, not `now()`: that is the start of the transaction.
NEXT_UPDATED_AT = func.greatest(
    literal_column("updated_at", DateTime(timezone=True))
    + literal_column("interval '1 microsecond'", Interval()),
    func.clock_timestamp(),
    type_=DateTime(timezone=True),
)


class TimestampMixin:
    # Read stamps computed by the database back with RETURNING as part of the flush.
    __mapper_args__: ClassVar[dict[str, Any]] = {"eager_defaults": True}
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, server_default=func.now())
    updated_at: Mapped[dt.datetime] = mapped_column(
        default=utcnow, onupdate=NEXT_UPDATED_AT, server_default=func.now()
    )
