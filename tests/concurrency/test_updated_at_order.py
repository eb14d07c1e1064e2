"""`updated_at` never goes backwards: after concurrent writes, the stored stamp is at least every
acknowledged response's. Real commits (the app runs on its own sessionmaker, as in production)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from app.db.engine import create_sessionmaker
from tests.concurrency.conftest import Committed
from tests.evaluations.helpers import add_provider_key

WRITERS = 40
ROUNDS = 6


async def _check_order(
    write: Callable[[int], Awaitable[httpx.Response]],
    read: Callable[[], Awaitable[httpx.Response]],
) -> None:
    for _ in range(ROUNDS):
        responses = await asyncio.gather(*(write(n) for n in range(WRITERS)))
        assert all(r.status_code == 200 for r in responses), [r.text for r in responses]
        acknowledged = max(r.json()["updated_at"] for r in responses)
        stamps = [r.json()["updated_at"] for r in responses]
        assert len(set(stamps)) == WRITERS  # every write moved it
        stored = (await read()).json()["updated_at"]
        # Same format everywhere (fixed width, `Z`), so text order is time order.
        assert stored >= acknowledged, (stored, acknowledged)


async def test_concurrent_dataset_patches(committed: Committed) -> None:
    client = committed.client
    created = (await client.post(committed.url("datasets/"), json={"name": "d"})).json()
    url = committed.url(f"datasets/{created['id']}/")
    await _check_order(
        lambda n: client.patch(url, json={"description": f"writer {n}"}), lambda: client.get(url)
    )


async def test_concurrent_item_patches(committed: Committed) -> None:
    client = committed.client
    dataset = (await client.post(committed.url("datasets/"), json={"name": "d"})).json()
    item = await client.post(committed.url("dataset_items/"), json={"dataset": dataset["id"]})
    url = committed.url(f"dataset_items/{item.json()['id']}/")
    await _check_order(lambda n: client.patch(url, json={"input": n}), lambda: client.get(url))


async def test_concurrent_evaluation_patches(committed: Committed) -> None:
    client = committed.client
    body = {"name": "e", "evaluation_config": {"prompt": "p"}}
    created = (await client.post(committed.url("evaluations/"), json=body)).json()
    url = committed.url(f"evaluations/{created['id']}/")
    await _check_order(
        lambda n: client.patch(url, json={"description": f"writer {n}"}), lambda: client.get(url)
    )


async def test_concurrent_active_key_changes(committed: Committed, engine: AsyncEngine) -> None:
    async with create_sessionmaker(engine)() as session:
        keys = [
            str((await add_provider_key(session, committed.app, committed.identity, name=n)).id)
            for n in ("one", "two")
        ]
    client = committed.client
    url = committed.url("llm_analytics/evaluation_config/")
    await client.get(url)  # created on first read
    await _check_order(
        lambda n: client.post(f"{url}set_active_key/", json={"key_id": keys[n % 2]}),
        lambda: client.get(url),
    )
