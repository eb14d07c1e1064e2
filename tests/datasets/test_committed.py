"""The hot paths with real commits, as production runs them.

Elsewhere the driver's statements join the test's rolled-back transaction; here the app has its
own sessionmaker on the real engine (`tests.concurrency.conftest.committed`), so a read-only
request or an item's insert runs as a single autocommitted statement, and dataset creation and
the PATCHes commit their ORM writes after reading the row back. Each answer is checked against
the others and against what a separate session then finds stored. Cleaned up after.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from app.db.engine import create_sessionmaker
from app.models import Dataset, DatasetItem, User
from tests.concurrency.conftest import Committed, committed

__all__ = ["committed"]  # the fixture, shared with tests/concurrency

HEDGEHOG = {"accessories": ["beret"], "color": "green", "big": 2**70}


async def _set_hedgehog(engine: AsyncEngine, user_id: int) -> None:
    async with create_sessionmaker(engine)() as session:
        await session.execute(
            update(User).where(User.id == user_id).values(hedgehog_config=HEDGEHOG)
        )
        await session.commit()


async def _stored(engine: AsyncEngine, model: Any, row_id: str) -> Any:
    async with create_sessionmaker(engine)() as session:
        return await session.scalar(select(model).where(model.id == uuid.UUID(row_id)))


async def test_dataset_create_retrieve_list_committed(
    committed: Committed, engine: AsyncEngine
) -> None:
    client, identity = committed.client, committed.identity
    await _set_hedgehog(engine, identity.user.id)
    body = {"name": "committed", "description": "d", "metadata": {"b": [1, 2.5], "a": None}}
    made = await client.post(committed.url("datasets/"), json=body)
    assert made.status_code == 201, made.text
    dataset = made.json()
    assert dataset["metadata"] == {"a": None, "b": [1, 2.5]}
    assert dataset["item_count"] == 0
    assert dataset["deleted"] is False
    assert dataset["team"] == identity.team.id
    creator = dataset["created_by"]
    assert creator["id"] == identity.user.id
    assert creator["uuid"] == str(identity.user.uuid)
    assert creator["hedgehog_config"] == HEDGEHOG  # 2**70 kept exactly
    assert dataset["created_at"].endswith("Z")
    assert dataset["created_at"] == dataset["updated_at"]

    stored = await _stored(engine, Dataset, dataset["id"])
    assert stored is not None
    assert stored.name == "committed"

    url = committed.url(f"datasets/{dataset['id']}/")
    assert (await client.get(url)).json() == dataset
    listed = (await client.get(committed.url("datasets/"), params={"search": "commit"})).json()
    assert listed["count"] == 1
    assert listed["results"] == [dataset]
    by_cursor = (await client.get(committed.url("datasets/"), params={"cursor": ""})).json()
    assert by_cursor["results"] == [dataset]


async def test_dataset_patch_reads_back_deleted_rows_committed(
    committed: Committed, engine: AsyncEngine
) -> None:
    client = committed.client
    made = await client.post(committed.url("datasets/"), json={"name": "gone", "deleted": True})
    assert made.status_code == 201, made.text
    assert made.json()["deleted"] is True  # read back although created deleted
    url = committed.url(f"datasets/{made.json()['id']}/")
    assert (await client.get(url)).status_code == 404

    restored = await client.patch(url, json={"deleted": False, "name": "back"})
    assert restored.status_code == 200, restored.text
    assert restored.json()["deleted"] is False
    assert restored.json()["name"] == "back"
    assert restored.json()["updated_at"] > made.json()["updated_at"]
    assert (await client.get(url)).json() == restored.json()

    deleted = await client.patch(url, json={"deleted": True})
    assert deleted.json()["deleted"] is True
    assert deleted.json()["name"] == "back"
    stored = await _stored(engine, Dataset, made.json()["id"])
    assert stored is not None
    assert stored.deleted is True


async def test_item_create_retrieve_list_committed(
    committed: Committed, engine: AsyncEngine
) -> None:
    client, identity = committed.client, committed.identity
    dataset = (await client.post(committed.url("datasets/"), json={"name": "d"})).json()
    items = []
    for n in range(5):
        body = {
            "dataset": dataset["id"],
            "input": {"n": n, "big": 2**70},
            "output": [n, "x"],
            "ref_trace_id": f"trace-{n}",
            "ref_timestamp": "2026-01-02T03:04:05.000006+01:00",
        }
        made = await client.post(committed.url("dataset_items/"), json=body)
        assert made.status_code == 201, made.text
        items.append(made.json())
    first = items[0]
    assert first["dataset"] == dataset["id"]
    assert first["team"] == identity.team.id
    assert first["input"] == {"n": 0, "big": 2**70}
    assert first["output"] == [0, "x"]
    assert first["metadata"] is None
    assert first["deleted"] is False
    assert first["ref_timestamp"] == "2026-01-02T02:04:05.000006Z"
    assert first["created_by"]["email"] == identity.user.email

    # Autocommitted: another session sees the row as soon as the answer is out.
    stored = await _stored(engine, DatasetItem, first["id"])
    assert stored is not None
    assert stored.ref_trace_id == "trace-0"

    for item in items:
        url = committed.url(f"dataset_items/{item['id']}/")
        assert (await client.get(url)).json() == item
    newest_first = list(reversed(items))
    params: dict[str, Any] = {"dataset": dataset["id"], "limit": 2}
    pages = [(await client.get(committed.url("dataset_items/"), params=params)).json()]
    pages.append(
        (await client.get(committed.url("dataset_items/"), params={**params, "offset": 4})).json()
    )
    assert [page["count"] for page in pages] == [5, 5]
    assert pages[0]["results"] == newest_first[:2]
    assert pages[1]["results"] == newest_first[4:]

    walked: list[dict[str, Any]] = []
    page = (
        await client.get(committed.url("dataset_items/"), params={**params, "cursor": ""})
    ).json()
    while True:
        assert page["count"] == 5
        walked += page["results"]
        if page["next"] is None:
            break
        page = (await client.get(page["next"])).json()
    assert walked == newest_first
    refreshed = (await client.get(committed.url(f"datasets/{dataset['id']}/"))).json()
    assert refreshed["item_count"] == 5


async def test_item_patch_reads_back_deleted_rows_committed(committed: Committed) -> None:
    client = committed.client
    dataset = (await client.post(committed.url("datasets/"), json={"name": "d"})).json()
    made = await client.post(
        committed.url("dataset_items/"), json={"dataset": dataset["id"], "deleted": True}
    )
    assert made.status_code == 201
    assert made.json()["deleted"] is True
    url = committed.url(f"dataset_items/{made.json()['id']}/")
    assert (await client.get(url)).status_code == 404
    restored = await client.patch(url, json={"deleted": False, "metadata": {"k": "v"}})
    assert restored.status_code == 200, restored.text
    assert restored.json()["metadata"] == {"k": "v"}
    assert restored.json()["deleted"] is False
    assert (await client.get(url)).json() == restored.json()
    unknown = await client.post(
        committed.url("dataset_items/"), json={"dataset": str(uuid.uuid4())}
    )
    assert unknown.status_code == 400
    assert unknown.json()["attr"] == "dataset"
