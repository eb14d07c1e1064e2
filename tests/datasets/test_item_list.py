"""The dataset-item list: the `dataset` filter, order, paging, cursor, and its SQL budget."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from tests.datasets.conftest import (
    StatementLog,
    Urls,
    assert_error,
    create_dataset,
    create_item,
)
from tests.factories import Identity


def ids(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [row["id"] for row in response.json()["results"]]


@pytest.fixture
async def two_datasets(api: httpx.AsyncClient, urls: Urls) -> tuple[dict[str, Any], ...]:
    return (
        await create_dataset(api, urls, name="first"),
        await create_dataset(api, urls, name="second"),
    )


async def test_filter_by_dataset_and_default_order(
    api: httpx.AsyncClient, urls: Urls, two_datasets: tuple[dict[str, Any], ...]
) -> None:
    first, second = two_datasets
    made = [
        await create_item(api, urls, (first if index % 2 else second)["id"], input=index)
        for index in range(6)
    ]
    newest_first = [item["id"] for item in reversed(made)]
    assert ids(await api.get(urls.items)) == newest_first
    in_first = ids(await api.get(urls.items, params={"dataset": first["id"]}))
    assert in_first == [item["id"] for item in reversed(made) if item["dataset"] == first["id"]]
    assert len(in_first) == 3


async def test_dataset_filter_that_matches_no_live_dataset_lists_nothing(
    api: httpx.AsyncClient,
    urls: Urls,
    other: Identity,
    other_api: httpx.AsyncClient,
    two_datasets: tuple[dict[str, Any], ...],
) -> None:
    first, _ = two_datasets
    await create_item(api, urls, first["id"])
    theirs = await create_dataset(other_api, Urls(other.team.id), name="theirs")
    await create_item(other_api, Urls(other.team.id), theirs["id"])
    await api.patch(urls.dataset(first["id"]), json={"deleted": True})
    for dataset_id in (first["id"], theirs["id"], "01a00000-0000-7000-8000-000000000000"):
        body = (await api.get(urls.items, params={"dataset": dataset_id})).json()
        assert body == {"count": 0, "next": None, "previous": None, "results": []}


@pytest.mark.parametrize("value", ["abc", "01a00000-0000-7000-8000-00000000000Z", "1,2"])
async def test_malformed_dataset_filter_is_400(
    api: httpx.AsyncClient, urls: Urls, value: str
) -> None:
    response = await api.get(urls.items, params={"dataset": value})
    assert assert_error(response, 400, "dataset", "invalid") == "Must be a valid UUID."


async def test_unknown_query_parameter_names_the_allowed_ones(
    api: httpx.AsyncClient, urls: Urls
) -> None:
    response = await api.get(urls.items, params={"datset": "x"})
    detail = assert_error(response, 400, "datset", "invalid_parameter")
    assert detail.endswith("Allowed parameters: cursor, dataset, limit, offset.")


async def test_offset_pages_and_links(
    api: httpx.AsyncClient, urls: Urls, two_datasets: tuple[dict[str, Any], ...]
) -> None:
    first, _ = two_datasets
    made = [await create_item(api, urls, first["id"]) for _ in range(5)]
    expected = [item["id"] for item in reversed(made)]
    page = (await api.get(urls.items, params={"dataset": first["id"], "limit": 2})).json()
    assert page["count"] == 5
    assert page["previous"] is None
    seen = [row["id"] for row in page["results"]]
    while page["next"]:
        assert parse_qs(urlsplit(page["next"]).query)["dataset"] == [first["id"]]
        page = (await api.get(page["next"])).json()
        assert page["previous"] is not None
        seen += [row["id"] for row in page["results"]]
    assert seen == expected
    clamped = (await api.get(urls.items, params={"limit": 5000, "offset": 4})).json()
    assert len(clamped["results"]) == 1
    assert clamped["count"] == 5
    far = await api.get(urls.items, params={"offset": "9" * 30})
    assert_error(far, 400, "offset", "max_value")


async def test_cursor_walk(
    api: httpx.AsyncClient, urls: Urls, two_datasets: tuple[dict[str, Any], ...]
) -> None:
    first, second = two_datasets
    made = [await create_item(api, urls, first["id"]) for _ in range(5)]
    await create_item(api, urls, second["id"])
    page = (
        await api.get(urls.items, params={"dataset": first["id"], "cursor": "", "limit": 2})
    ).json()
    seen: list[str] = []
    while True:
        assert page["count"] == 5
        assert page["previous"] is None
        seen += [row["id"] for row in page["results"]]
        if page["next"] is None:
            break
        query = parse_qs(urlsplit(page["next"]).query)
        assert set(query) == {"dataset", "cursor", "limit"}
        page = (await api.get(page["next"])).json()
    assert seen == [item["id"] for item in reversed(made)]
    response = await api.get(urls.items, params={"cursor": "%%%"})
    assert_error(response, 400, "cursor", "invalid")
    response = await api.get(urls.items, params={"cursor": "", "offset": 10})
    assert_error(response, 400, "cursor", "invalid")


async def test_one_query_per_page_whatever_its_size(
    api: httpx.AsyncClient,
    urls: Urls,
    two_datasets: tuple[dict[str, Any], ...],
    sql_log: StatementLog,
) -> None:
    first, _ = two_datasets
    for _ in range(25):
        await create_item(api, urls, first["id"])
    budgets = []
    for limit in (1, 25):
        sql_log.clear()
        response = await api.get(urls.items, params={"dataset": first["id"], "limit": limit})
        assert len(response.json()["results"]) == limit
        assert all(row["created_by"]["id"] for row in response.json()["results"])
        # Page, count and creators in a single statement: no N+1 on `created_by`.
        await sql_log.settled()
        assert len(sql_log.selecting_from("dataset_items")) == 1
        assert not sql_log.selecting_from("users")
        budgets.append(len(sql_log.statements))
    assert budgets[0] == budgets[1]


async def test_items_of_a_restored_dataset_list_again(
    api: httpx.AsyncClient, urls: Urls, two_datasets: tuple[dict[str, Any], ...]
) -> None:
    first, _ = two_datasets
    item = await create_item(api, urls, first["id"])
    await api.patch(urls.dataset(first["id"]), json={"deleted": True})
    assert ids(await api.get(urls.items, params={"dataset": first["id"]})) == []
    await api.patch(urls.dataset(first["id"]), json={"deleted": False})
    assert ids(await api.get(urls.items, params={"dataset": first["id"]})) == [item["id"]]


async def test_creator_json_is_rendered_on_every_path(
    api: httpx.AsyncClient,
    urls: Urls,
    identity: Identity,
    session: AsyncSession,
    two_datasets: tuple[dict[str, Any], ...],
) -> None:
    identity.user.hedgehog_config = {"color": "blue", "accessories": ["hat"]}
    identity.user.first_name = "Zoë"
    await session.commit()
    created = await create_item(api, urls, two_datasets[0]["id"])
    listed = (await api.get(urls.items)).json()["results"][0]
    retrieved = (await api.get(urls.item(created["id"]))).json()
    for body in (created, listed, retrieved):
        assert body["created_by"]["hedgehog_config"] == {"color": "blue", "accessories": ["hat"]}
        assert body["created_by"]["first_name"] == "Zoë"
        assert body["created_by"]["uuid"] == str(identity.user.uuid)
