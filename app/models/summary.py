"""Evaluation-summary cache and the per-team throttle counters, shared by all replicas."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import ForeignKey, String, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, utcnow


class SummaryCacheEntry(Base):
    __tablename__ = "evaluation_summary_cache"

    team_id: Mapped[int] = mapped_column(
        ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True
    )
    # sha256 over evaluation id, filter and the analysed runs' ids and verdicts.
    cache_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, server_default=text("now()"))
    expires_at: Mapped[dt.datetime] = mapped_column(index=True)


class SummaryLease(Base):
    """Who is computing a cache key's summary right now (single flight, SPEC §5.8).

    Taken and released in short committed transactions, so no pooled connection is held while
    the provider thinks; a lease whose holder died expires and can be taken over.
    """

    __tablename__ = "summary_leases"

    team_id: Mapped[int] = mapped_column(
        ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True
    )
    cache_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[uuid.UUID]
    expires_at: Mapped[dt.datetime]


class RateLimitCounter(Base):
    """Fixed-window request counters: one row per team, bucket and window start."""

    __tablename__ = "rate_limit_counters"

    team_id: Mapped[int] = mapped_column(
        ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True
    )
    bucket: Mapped[str] = mapped_column(String(32), primary_key=True)
    window_start: Mapped[dt.datetime] = mapped_column(primary_key=True)
    count: Mapped[int] = mapped_column(default=0)
