"""Putting experiment work on the job queue (pgqueuer), inside the caller's transaction.

Jobs are enqueued on the session's own connection, so a job exists exactly when the row it
works on was committed. Priorities make the dispatch fair: an experiment's chunk n has
priority -n, so the first chunks of a newly started experiment overtake the tail of a large
one instead of waiting behind it (pgqueuer picks by priority, then age).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import orjson
from pgqueuer.adapters.drivers.asyncpg import AsyncpgDriver
from pgqueuer.queries import Queries
from sqlalchemy.ext.asyncio import AsyncSession

PLAN = "experiment_plan"
CHUNK = "experiment_chunk"
PLAN_PRIORITY = 1_000_000  # planning is quick and unblocks everything else: first


async def _queries(session: AsyncSession) -> Queries:
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    return Queries(AsyncpgDriver(raw.driver_connection))


def payload(experiment_id: uuid.UUID, seq: int | None = None) -> bytes:
    return orjson.dumps({"experiment_id": str(experiment_id), "seq": seq})


def parse_payload(raw: bytes | None) -> tuple[uuid.UUID, int | None]:
    body = orjson.loads(raw or b"{}")
    return uuid.UUID(body["experiment_id"]), body.get("seq")


async def enqueue_plan(session: AsyncSession, experiment_id: uuid.UUID) -> None:
    queries = await _queries(session)
    await queries.enqueue(
        PLAN,
        payload(experiment_id),
        priority=PLAN_PRIORITY,
        dedupe_key=f"plan:{experiment_id}",
        on_conflict="skip",
    )


async def enqueue_chunks(
    session: AsyncSession, experiment_id: uuid.UUID, seqs: Sequence[int]
) -> None:
    if not seqs:
        return
    queries = await _queries(session)
    await queries.enqueue(
        [CHUNK] * len(seqs),
        [payload(experiment_id, seq) for seq in seqs],
        [-seq for seq in seqs],
        dedupe_key=[f"chunk:{experiment_id}:{seq}" for seq in seqs],
        on_conflict="skip",
    )
