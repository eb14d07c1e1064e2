"""Dataset items over HTTP: create, retrieve, update, move, soft delete, validation, isolation."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.datasets.conftest import StatementLog, Urls, assert_error, create_dataset, create_item
from tests.factories import Identity

AWKWARD_JSON: list[Any] = [
    None,
    [],
    {},
    "",
    "null",
    0,
    -1.5e-7,
    2**63,
    True,
    [1, "two", None, False, 3.25, {"nested": [[], {}]}],
    {"unicode": "日本語 🚀 ñ \u2028 \u00e9", "quotes": 'say "hi" \\ back'},
    {"deep": {"er": {"est": [{"k": [None, {"z": "end"}]}]}}},
    {"b": 1, "a": 2, "": "empty key"},
    "a plain string",
]


@pytest.fixture
async def dataset(api: httpx.AsyncClient, urls: Urls) -> dict[str, Any]:
    return await create_dataset(api, urls, name="items home")


async def test_create_returns_every_field(
    api: httpx.AsyncClient, urls: Urls, identity: Identity, dataset: dict[str, Any]
) -> None:
    response = await api.post(
        urls.items,
        json={
            "dataset": dataset["id"],
            "input": {"question": "2+2?"},
            "output": {"answer": "4"},
            "metadata": {"source": "unit"},
            "ref_trace_id": "trace-1",
            "ref_source_id": "span-9",
            "ref_timestamp": "2024-05-01T10:00:00+02:00",
        },
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == {
        "id",
        "dataset",
        "input",
        "output",
        "metadata",
        "ref_trace_id",
        "ref_timestamp",
        "ref_source_id",
        "deleted",
        "created_at",
        "updated_at",
        "created_by",
        "team",
    }
    assert body["dataset"] == dataset["id"]
    assert body["input"] == {"question": "2+2?"}
    assert body["output"] == {"answer": "4"}
    assert body["metadata"] == {"source": "unit"}
    assert (body["ref_trace_id"], body["ref_source_id"]) == ("trace-1", "span-9")
    assert body["ref_timestamp"] == "2024-05-01T08:00:00.000000Z"
    assert body["deleted"] is False
    assert body["team"] == identity.team.id
    assert body["created_by"]["id"] == identity.user.id
    assert body["created_at"] == body["updated_at"]
    assert (await api.get(urls.item(body["id"]))).json() == body


async def test_create_ignores_read_only_fields_and_accepts_forms(
    api: httpx.AsyncClient, urls: Urls, identity: Identity, dataset: dict[str, Any]
) -> None:
    body = await create_item(
        api, urls, dataset["id"], id="00000000-0000-7000-8000-000000000001", team=0, extra=1
    )
    assert body["id"] != "00000000-0000-7000-8000-000000000001"
    assert body["team"] == identity.team.id
    assert "extra" not in body
    # The seed's curl examples post form fields.
    response = await api.post(urls.items, data={"dataset": dataset["id"], "ref_timestamp": ""})
    assert response.status_code == 201, response.text
    assert response.json()["ref_timestamp"] is None
    assert response.json()["input"] is None


@pytest.mark.parametrize("value", AWKWARD_JSON)
async def test_json_fields_round_trip(
    api: httpx.AsyncClient, urls: Urls, dataset: dict[str, Any], value: Any
) -> None:
    created = await create_item(api, urls, dataset["id"], input=value, output=value, metadata=value)
    listed = (await api.get(urls.items, params={"dataset": dataset["id"]})).json()["results"]
    retrieved = (await api.get(urls.item(created["id"]))).json()
    for body in (created, retrieved, listed[0]):
        assert body["input"] == value
        assert body["output"] == value
        assert body["metadata"] == value
    patched = (
        await api.patch(urls.item(created["id"]), json={"output": {"v": value}, "input": None})
    ).json()
    assert patched["output"] == {"v": value}
    assert patched["input"] is None
    assert patched["metadata"] == value


@pytest.mark.parametrize(
    ("payload", "attr", "code", "detail"),
    [
        ({}, "dataset", "required", "This field is required."),
        ({"dataset": None}, "dataset", "null", "This field may not be null."),
        ({"dataset": "abc"}, "dataset", "invalid", "Must be a valid UUID."),
        ({"dataset": 12}, "dataset", "invalid", "Must be a valid UUID."),
        ({"ref_timestamp": "yesterday"}, "ref_timestamp", "invalid", None),
        ({"ref_timestamp": 1714550400}, "ref_timestamp", "invalid", None),
        ({"ref_timestamp": "2024-13-01T00:00:00Z"}, "ref_timestamp", "invalid", None),
        (
            {"ref_trace_id": "t" * 256},
            "ref_trace_id",
            "max_length",
            "Ensure this field has no more than 255 characters.",
        ),
        (
            {"ref_source_id": "s" * 256},
            "ref_source_id",
            "max_length",
            "Ensure this field has no more than 255 characters.",
        ),
        ({"ref_trace_id": {"a": 1}}, "ref_trace_id", "invalid", "Not a valid string."),
        ({"deleted": "perhaps"}, "deleted", "invalid", "Must be a valid boolean."),
    ],
)
async def test_create_validation(
    api: httpx.AsyncClient,
    urls: Urls,
    dataset: dict[str, Any],
    payload: dict[str, Any],
    attr: str,
    code: str,
    detail: str | None,
) -> None:
    # Rows about `dataset` itself send their own (or none); the others a valid one.
    body = payload if not payload or "dataset" in payload else {"dataset": dataset["id"], **payload}
    response = await api.post(urls.items, json=body)
    message = assert_error(response, 400, attr, code)
    if detail is not None:
        assert message == detail
    else:
        assert message.startswith("Datetime has wrong format.")
    assert (await api.get(urls.items)).json()["count"] == 0


async def test_ref_fields_at_their_limits(
    api: httpx.AsyncClient, urls: Urls, dataset: dict[str, Any]
) -> None:
    body = await create_item(
        api,
        urls,
        dataset["id"],
        ref_trace_id="t" * 255,
        ref_source_id="",
        ref_timestamp="2024-01-02T03:04:05.678901",
    )
    assert body["ref_trace_id"] == "t" * 255
    assert body["ref_source_id"] == ""
    # A naive timestamp is read as UTC.
    assert body["ref_timestamp"] == "2024-01-02T03:04:05.678901Z"
    cleared = await api.patch(
        urls.item(body["id"]),
        json={"ref_trace_id": None, "ref_source_id": None, "ref_timestamp": None},
    )
    assert cleared.status_code == 200, cleared.text
    fetched = (await api.get(urls.item(body["id"]))).json()
    assert (fetched["ref_trace_id"], fetched["ref_source_id"], fetched["ref_timestamp"]) == (
        None,
        None,
        None,
    )


async def test_dataset_must_be_a_live_dataset_of_the_team(
    api: httpx.AsyncClient,
    urls: Urls,
    other: Identity,
    other_api: httpx.AsyncClient,
    dataset: dict[str, Any],
) -> None:
    foreign = await create_dataset(other_api, Urls(other.team.id), name="theirs")
    deleted = await create_dataset(api, urls, name="gone")
    await api.patch(urls.dataset(deleted["id"]), json={"deleted": True})
    missing = "01a00000-0000-7000-8000-000000000000"
    for dataset_id in (foreign["id"], deleted["id"], missing):
        response = await api.post(urls.items, json={"dataset": dataset_id, "input": 1})
        detail = assert_error(response, 400, "dataset", "does_not_exist")
        # Another team's dataset reads exactly like a missing one.
        assert detail == f'Invalid pk "{dataset_id}" - object does not exist.'
    assert (await api.get(urls.items)).json()["count"] == 0
    assert (await other_api.get(Urls(other.team.id).items)).json()["count"] == 0


async def test_patch_moves_an_item_between_datasets(
    api: httpx.AsyncClient,
    urls: Urls,
    other: Identity,
    other_api: httpx.AsyncClient,
    dataset: dict[str, Any],
) -> None:
    target = await create_dataset(api, urls, name="target")
    item = await create_item(api, urls, dataset["id"], input="q")
    moved = await api.patch(urls.item(item["id"]), json={"dataset": target["id"]})
    assert moved.status_code == 200, moved.text
    assert moved.json()["dataset"] == target["id"]
    assert moved.json()["updated_at"] > item["updated_at"]
    assert moved.json()["created_at"] == item["created_at"]
    in_target = (await api.get(urls.items, params={"dataset": target["id"]})).json()
    assert [row["id"] for row in in_target["results"]] == [item["id"]]
    in_source = (await api.get(urls.items, params={"dataset": dataset["id"]})).json()
    assert in_source["count"] == 0

    foreign = await create_dataset(other_api, Urls(other.team.id), name="theirs")
    await api.patch(urls.dataset(dataset["id"]), json={"deleted": True})
    for bad in (foreign["id"], dataset["id"]):
        response = await api.patch(urls.item(item["id"]), json={"dataset": bad, "input": "x"})
        assert_error(response, 400, "dataset", "does_not_exist")
    response = await api.patch(urls.item(item["id"]), json={"dataset": None})
    assert_error(response, 400, "dataset", "null")
    unchanged = (await api.get(urls.item(item["id"]))).json()
    assert (unchanged["dataset"], unchanged["input"]) == (target["id"], "q")


async def test_soft_delete_and_restore(
    api: httpx.AsyncClient, urls: Urls, dataset: dict[str, Any]
) -> None:
    item = await create_item(api, urls, dataset["id"], input="keep me")
    deleted = await api.patch(urls.item(item["id"]), json={"deleted": True})
    assert deleted.json()["deleted"] is True
    assert_error(await api.get(urls.item(item["id"])), 404, None, "not_found")
    assert (await api.get(urls.items)).json()["count"] == 0
    assert (await api.get(urls.items, params={"dataset": dataset["id"]})).json()["count"] == 0
    still = await api.patch(urls.item(item["id"]), json={"output": "edited while deleted"})
    assert still.status_code == 200
    assert still.json()["deleted"] is True
    restored = await api.patch(urls.item(item["id"]), json={"deleted": "false"})
    assert restored.json()["deleted"] is False
    fetched = (await api.get(urls.item(item["id"]))).json()
    assert fetched["output"] == "edited while deleted"
    assert fetched["updated_at"] > item["updated_at"]


async def test_delete_and_other_methods_are_405(
    api: httpx.AsyncClient, urls: Urls, dataset: dict[str, Any]
) -> None:
    item = await create_item(api, urls, dataset["id"])
    response = await api.delete(urls.item(item["id"]))
    assert response.status_code == 405
    assert response.content == b""
    assert (await api.get(urls.item(item["id"]))).status_code == 200
    assert (await api.put(urls.item(item["id"]), json={})).status_code == 405
    assert (await api.delete(urls.items)).status_code == 405


async def test_retrieve_and_patch_404s(
    api: httpx.AsyncClient,
    urls: Urls,
    other: Identity,
    other_api: httpx.AsyncClient,
    dataset: dict[str, Any],
) -> None:
    mine = await create_item(api, urls, dataset["id"], input="secret")
    theirs = Urls(other.team.id)
    assert_error(await other_api.get(theirs.item(mine["id"])), 404, None, "not_found")
    patched = await other_api.patch(theirs.item(mine["id"]), json={"input": "pwned"})
    assert_error(patched, 404, None, "not_found")
    assert (await other_api.get(theirs.items)).json()["count"] == 0
    for item_id in ("nope", "01a00000-0000-7000-8000-000000000000"):
        assert_error(await api.get(urls.item(item_id)), 404, None, "not_found")
        assert_error(await api.patch(urls.item(item_id), json={}), 404, None, "not_found")
    assert (await api.get(urls.item(mine["id"]))).json()["input"] == "secret"


async def test_scopes(
    client: httpx.AsyncClient,
    identity: Identity,
    urls: Urls,
    read_headers: dict[str, str],
    unrelated_headers: dict[str, str],
) -> None:
    made = await client.post(urls.datasets, json={"name": "d"}, headers=identity.headers)
    dataset_id = made.json()["id"]
    item = await client.post(urls.items, json={"dataset": dataset_id}, headers=identity.headers)
    item_url = urls.item(item.json()["id"])
    assert (await client.get(urls.items, headers=read_headers)).json()["count"] == 1
    assert (await client.get(item_url, headers=read_headers)).status_code == 200
    for response in (
        await client.post(urls.items, json={"dataset": dataset_id}, headers=read_headers),
        await client.patch(item_url, json={"input": 1}, headers=read_headers),
        await client.delete(item_url, headers=read_headers),
    ):
        detail = assert_error(response, 403, None, "permission_denied")
        assert detail == "API key missing required scope 'dataset:write'"
    for response in (
        await client.get(urls.items, headers=unrelated_headers),
        await client.get(item_url, headers=unrelated_headers),
    ):
        detail = assert_error(response, 403, None, "permission_denied")
        assert detail == "API key missing required scope 'dataset:read'"
    assert (await client.get(item_url)).status_code == 401
    listed = await client.get(urls.items, headers=identity.headers)
    assert listed.json()["count"] == 1


async def test_hot_paths_cost_one_statement_after_one_for_authentication(
    api: httpx.AsyncClient, urls: Urls, sql_log: StatementLog
) -> None:
    dataset = await create_dataset(api, urls, name="budget")
    sql_log.clear()
    item = await create_item(api, urls, dataset["id"], input={"q": 1})
    assert (await api.get(urls.item(item["id"]))).json() == item
    # SAVEPOINT / RELEASE come from the test's rolled-back transaction, not from the service.
    harness = ("SAVEPOINT", "RELEASE", "ROLLBACK")
    statements = [s for s in (await sql_log.settled()).statements if not s.startswith(harness)]
    # Per request: the caller (key, owner, team, membership) in one statement, then the
    # INSERT … SELECT that checks the dataset (inside `WITH inserted AS (…) SELECT`, which reads
    # the new row back in the retrieve's shape), or the retrieve.
    assert len(statements) == 4, statements
    assert [s.lstrip().split()[0] for s in statements] == ["SELECT", "WITH", "SELECT", "SELECT"]
    assert "INSERT INTO dataset_items" in statements[1]
    assert all("personal_api_keys" in s for s in statements[::2])
