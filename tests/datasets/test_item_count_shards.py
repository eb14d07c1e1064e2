"""`item_count` in shards (migration b7_item_count_shards): concurrent writers of one dataset on
different backends add to different `dataset_item_counts` rows without waiting on each other,
the dataset's count is their sum, and deleting the dataset deletes its shards.

The writes commit (the `committed` fixture's app and identity, cleaned up after): the point is
what separate backends do at the same time.
"""

from __future__ import annotations

import asyncio
import uuid
from contextlib import AsyncExitStack

from sqlalchemy import delete, func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.models import Dataset, DatasetItem, DatasetItemCount
from tests.concurrency.conftest import Committed, committed

__all__ = ["committed"]

SHARDS = 16


async def _pid(connection: AsyncConnection) -> int:
    pid: int = await connection.scalar(select(func.pg_backend_pid()))
    return pid


async def _insert_items(
    connection: AsyncConnection, team_id: int, dataset_id: uuid.UUID, n: int
) -> None:
    rows = [
        {
            "team_id": team_id,
            "dataset_id": dataset_id,
            "input": {"i": i},
            "output": {"o": i},
            "metadata": {},
        }
        for i in range(n)
    ]
    await connection.execute(insert(DatasetItem), rows)


async def test_concurrent_backends_count_in_their_own_shards(
    committed: Committed, engine: AsyncEngine
) -> None:
    client, identity = committed.client, committed.identity
    made = await client.post(committed.url("datasets/"), json={"name": "sharded"})
    assert made.status_code == 201, made.text
    dataset_id = uuid.UUID(made.json()["id"])
    team_id = identity.team.id

    async with AsyncExitStack() as stack:
        # Two backends whose pids fall in different shards (held open so that each is distinct).
        by_shard: dict[int, tuple[AsyncConnection, int]] = {}
        for _ in range(8):
            connection = await stack.enter_async_context(engine.connect())
            pid = await _pid(connection)
            by_shard.setdefault(pid % SHARDS, (connection, pid))
            if len(by_shard) == 2:
                break
        assert len(by_shard) == 2, "eight backends in one shard"
        (first, first_pid), (second, second_pid) = by_shard.values()
        for connection in (first, second):
            await connection.rollback()  # end the pid lookup's transaction
            await connection.execute(text("SET lock_timeout = '5s'"))
            await connection.commit()

        # Both transactions stay open while the other writes: neither waits for the other's
        # lock (b5's single counter row made the second one wait until the first committed).
        await _insert_items(first, team_id, dataset_id, 3)
        await asyncio.wait_for(_insert_items(second, team_id, dataset_id, 4), timeout=10)
        await _insert_items(first, team_id, dataset_id, 2)
        await first.commit()
        await second.commit()

        # A delete on the second backend counts down in its own shard.
        await second.execute(
            text(
                "DELETE FROM dataset_items WHERE id = "
                "(SELECT id FROM dataset_items WHERE dataset_id = :id LIMIT 1)"
            ),
            {"id": dataset_id},
        )
        await second.commit()

        shards = dict(
            (
                await first.execute(
                    select(DatasetItemCount.shard, DatasetItemCount.n).where(
                        DatasetItemCount.dataset_id == dataset_id
                    )
                )
            ).all()
        )
        await first.commit()
        assert shards == {first_pid % SHARDS: 5, second_pid % SHARDS: 3}

    retrieved = await client.get(committed.url(f"datasets/{dataset_id}/"))
    assert retrieved.status_code == 200
    assert retrieved.json()["item_count"] == 8
    listed = await client.get(committed.url("datasets/"))
    counts = {d["id"]: d["item_count"] for d in listed.json()["results"]}
    assert counts == {str(dataset_id): 8}

    async with engine.begin() as connection:
        await connection.execute(delete(Dataset).where(Dataset.id == dataset_id))
    async with engine.connect() as connection:
        left = await connection.scalar(
            select(func.count())
            .select_from(DatasetItemCount)
            .where(DatasetItemCount.dataset_id == dataset_id)
        )
    assert left == 0
