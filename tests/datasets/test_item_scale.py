"""A few thousand items over several datasets: exact filtering and order, and the index the
list query runs on (SPEC §5.2: listing one dataset must stay fast with millions in the team)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Dataset, DatasetItem
from tests.datasets.conftest import StatementLog, Urls
from tests.factories import Identity

DATASETS = 4
ITEMS = 4000
BASE = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)


@pytest.fixture
async def seeded(
    session: AsyncSession, identity: Identity, other: Identity
) -> dict[uuid.UUID, list[tuple[dt.datetime, uuid.UUID]]]:
    """Live items per dataset as (created_at, id); random ids and tied timestamps on purpose."""
    datasets = [uuid.uuid4() for _ in range(DATASETS)]
    foreign = uuid.uuid4()
    await session.execute(
        insert(Dataset),
        [
            {"id": dataset_id, "team_id": identity.team.id, "name": f"d{index}", "metadata_": {}}
            for index, dataset_id in enumerate(datasets)
        ]
        + [{"id": foreign, "team_id": other.team.id, "name": "theirs", "metadata_": {}}],
    )
    live: dict[uuid.UUID, list[tuple[dt.datetime, uuid.UUID]]] = {d: [] for d in datasets}
    rows: list[dict[str, Any]] = []
    for index in range(ITEMS):
        dataset_id = datasets[index % DATASETS]
        # Three items share each timestamp, so `id` has to break ties.
        created_at = BASE + dt.timedelta(seconds=index // 3)
        deleted = index % 50 == 0
        item_id = uuid.uuid4()
        rows.append(
            {
                "id": item_id,
                "team_id": identity.team.id,
                "dataset_id": dataset_id,
                "input": {"n": index},
                "output": [index],
                "metadata_": {},
                "deleted": deleted,
                "created_at": created_at,
                "updated_at": created_at,
                "created_by_id": identity.user.id,
            }
        )
        if not deleted:
            live[dataset_id].append((created_at, item_id))
    # Another team's items in the same table, interleaved in time.
    rows += [
        {**row, "id": uuid.uuid4(), "team_id": other.team.id, "dataset_id": foreign}
        for row in rows[:500]
    ]
    await session.execute(insert(DatasetItem), rows)
    await session.commit()
    await session.execute(text("ANALYZE dataset_items"))
    await session.execute(text("ANALYZE datasets"))
    return live


def literal(value: Any) -> str:
    """A bind value as SQL text (ints, uuids, datetimes: nothing that needs escaping)."""
    if isinstance(value, int):
        return str(value)
    if isinstance(value, dt.datetime):
        return f"'{value.isoformat()}'"
    assert isinstance(value, uuid.UUID)
    return f"'{value}'"


def expected_order(entries: list[tuple[dt.datetime, uuid.UUID]]) -> list[str]:
    # -created_at, then id ascending (PostgreSQL orders uuids as Python does: bytewise).
    ordered = sorted(entries, key=lambda entry: entry[1])
    ordered.sort(key=lambda entry: entry[0], reverse=True)
    return [str(item_id) for _, item_id in ordered]


async def collect(api: httpx.AsyncClient, url: str, params: dict[str, Any]) -> list[str]:
    seen: list[str] = []
    page = (await api.get(url, params=params)).json()
    while True:
        seen += [row["id"] for row in page["results"]]
        if page["next"] is None:
            return seen
        page = (await api.get(page["next"])).json()


async def test_filtered_list_is_exact_and_ordered_by_offset_and_by_cursor(
    api: httpx.AsyncClient,
    urls: Urls,
    seeded: dict[uuid.UUID, list[tuple[dt.datetime, uuid.UUID]]],
) -> None:
    for dataset_id, entries in list(seeded.items())[:2]:
        expected = expected_order(entries)
        first = (await api.get(urls.items, params={"dataset": str(dataset_id)})).json()
        assert first["count"] == len(entries)
        by_offset = await collect(api, urls.items, {"dataset": str(dataset_id), "limit": 300})
        by_cursor = await collect(
            api, urls.items, {"dataset": str(dataset_id), "limit": 300, "cursor": ""}
        )
        assert by_offset == expected
        assert by_cursor == expected
    everything = (await api.get(urls.items, params={"limit": 1})).json()
    live = sum(len(entries) for entries in seeded.values())
    assert everything["count"] == live
    assert live == ITEMS - ITEMS // 50


async def test_list_query_uses_the_team_dataset_created_index(
    api: httpx.AsyncClient,
    urls: Urls,
    session: AsyncSession,
    sql_log: StatementLog,
    seeded: dict[uuid.UUID, list[tuple[dt.datetime, uuid.UUID]]],
) -> None:
    dataset_id = str(next(iter(seeded)))
    connection = await session.connection()
    # asyncpg prepares statements, and PostgreSQL may switch a prepared statement to a generic
    # plan after a few runs: that plan must use the index too.
    await connection.exec_driver_sql("SET LOCAL plan_cache_mode = force_generic_plan")
    for params in ({"dataset": dataset_id}, {"dataset": dataset_id, "cursor": ""}):
        sql_log.clear()
        response = await api.get(urls.items, params={**params, "limit": 100})
        assert response.status_code == 200
        page = response.json()
        if page["next"] and "cursor" in params:
            # The deep page of a keyset walk: it must start from the index, not filter up to it.
            sql_log.clear()
            assert (await api.get(page["next"])).status_code == 200
        [(statement, parameters)] = (await sql_log.settled()).selecting_from("dataset_items")
        await connection.exec_driver_sql(f"PREPARE listing AS {statement}")
        arguments = ", ".join(literal(value) for value in parameters)
        result = await connection.exec_driver_sql(f"EXPLAIN EXECUTE listing({arguments})")
        await connection.exec_driver_sql("DEALLOCATE listing")
        plan = "\n".join(row[0] for row in result)
        assert "ix_dataset_items_team_dataset_created" in plan, plan
        assert "Seq Scan on dataset_items" not in plan, plan
        if "cursor" in params:
            assert "Sort" not in plan, plan
        else:
            # An offset page picks its keys from the index, then reads those rows by primary
            # key; the one sort is of the page's own rows, at the top of the plan.
            assert "Index Only Scan using ix_dataset_items_team_dataset_created" in plan, plan
            assert "pk_dataset_items" in plan, plan
            assert plan.startswith("Sort"), plan
            assert plan.count("Sort  (") == 1, plan
        if "cursor" in params:
            assert "created_at <=" in plan, plan
