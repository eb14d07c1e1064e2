"""SQL of the summary: the shared cache, its single-flight lease and the throttle counters.

Every time is PostgreSQL's `clock_timestamp()`, so replicas with drifting clocks still agree
on windows and expiry.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import SummaryCacheEntry, SummaryLease

_COUNT_HIT = text(
    """
    INSERT INTO rate_limit_counters AS c (team_id, bucket, window_start, count)
    SELECT :team_id, b.bucket, date_trunc(b.bucket, t.now, 'UTC'), 1
    FROM (VALUES (1, 'minute'), (2, 'hour'), (3, 'day')) AS b(ord, bucket),
         (SELECT clock_timestamp() AS now) AS t
    ORDER BY b.ord
    ON CONFLICT (team_id, bucket, window_start) DO UPDATE SET count = c.count + 1
    RETURNING c.bucket, c.count,
        EXTRACT(EPOCH FROM c.window_start + ('1 ' || c.bucket)::interval - clock_timestamp())
    """
)
# Windows that have ended are of no use; dropping them keeps one team's rows to three.
_DROP_ENDED = text(
    """
    DELETE FROM rate_limit_counters
    WHERE team_id = :team_id AND window_start + ('1 ' || bucket)::interval <= clock_timestamp()
    """
)


@dataclass(frozen=True)
class WindowCount:
    bucket: str  # minute | hour | day
    count: int
    seconds_left: float


async def count_request(session: AsyncSession, team_id: int) -> list[WindowCount]:
    """Count one request in the team's current minute, hour and day windows.

    Rows are locked in a fixed order (minute, hour, day), so concurrent requests of one
    team queue up on the counters instead of deadlocking.
    """
    await session.execute(_DROP_ENDED, {"team_id": team_id})
    rows = await session.execute(_COUNT_HIT, {"team_id": team_id})
    return [WindowCount(row[0], int(row[1]), float(row[2])) for row in rows]


class SummaryCache:
    """The team's cached summaries. Expired rows are invisible and removed on the next write."""

    def __init__(self, session: AsyncSession, team_id: int) -> None:
        self.session = session
        self.team_id = team_id

    async def get(
        self, cache_key: str, *, created_since: dt.datetime | None = None
    ) -> dict[str, Any] | None:
        statement = select(SummaryCacheEntry.payload).where(
            SummaryCacheEntry.team_id == self.team_id,
            SummaryCacheEntry.cache_key == cache_key,
            SummaryCacheEntry.expires_at > func.clock_timestamp(),
        )
        if created_since is not None:
            statement = statement.where(SummaryCacheEntry.created_at >= created_since)
        payload: dict[str, Any] | None = await self.session.scalar(statement)
        return payload

    async def put(self, cache_key: str, payload: dict[str, Any], ttl_seconds: int) -> None:
        now = func.clock_timestamp()
        expires = now + func.make_interval(0, 0, 0, 0, 0, 0, float(ttl_seconds))
        # Housekeeping must never wait: rows another request holds are left for next time.
        expired = (
            select(SummaryCacheEntry.cache_key)
            .where(SummaryCacheEntry.team_id == self.team_id, SummaryCacheEntry.expires_at <= now)
            .with_for_update(skip_locked=True)
        )
        await self.session.execute(
            delete(SummaryCacheEntry).where(
                SummaryCacheEntry.team_id == self.team_id,
                SummaryCacheEntry.cache_key.in_(expired.scalar_subquery()),
            )
        )
        await self.session.execute(
            insert(SummaryCacheEntry)
            .values(
                team_id=self.team_id,
                cache_key=cache_key,
                payload=payload,
                created_at=now,
                expires_at=expires,
            )
            .on_conflict_do_update(
                index_elements=[SummaryCacheEntry.team_id, SummaryCacheEntry.cache_key],
                set_={"payload": payload, "created_at": now, "expires_at": expires},
            )
        )

    async def now(self) -> dt.datetime:
        moment = await self.session.scalar(select(func.clock_timestamp()))
        assert isinstance(moment, dt.datetime)
        return moment


class SummaryLeases:
    """Single flight per cache key through a committed row (SPEC §5.8: concurrent identical
    requests make one provider call). Each method is one statement, which the service runs in a
    short transaction of its own (`app.db.session.transaction`): nobody holds a connection
    while the lease is held."""

    def __init__(self, session: AsyncSession, team_id: int) -> None:
        self.session = session
        self.team_id = team_id

    async def take(self, cache_key: str, holder: uuid.UUID, seconds: float) -> bool:
        """Take the key's lease for `seconds`, unless someone else holds one that has not
        expired. True when `holder` now holds it."""
        expires = func.clock_timestamp() + func.make_interval(0, 0, 0, 0, 0, 0, float(seconds))
        statement = (
            insert(SummaryLease)
            .values(team_id=self.team_id, cache_key=cache_key, holder=holder, expires_at=expires)
            .on_conflict_do_update(
                index_elements=[SummaryLease.team_id, SummaryLease.cache_key],
                set_={"holder": holder, "expires_at": expires},
                # An expired lease's holder died or overran its deadline: take it over.
                where=SummaryLease.expires_at <= func.clock_timestamp(),
            )
            .returning(SummaryLease.holder)
        )
        taken = await self.session.scalar(statement)
        return taken == holder

    async def release(self, cache_key: str, holder: uuid.UUID) -> None:
        """Drop the lease if `holder` still holds it (a taken-over lease is left alone)."""
        await self.session.execute(
            delete(SummaryLease).where(
                SummaryLease.team_id == self.team_id,
                SummaryLease.cache_key == cache_key,
                SummaryLease.holder == holder,
            )
        )
