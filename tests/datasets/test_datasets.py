"""Datasets over HTTP: create, retrieve, update, soft delete and restore, validation, isolation."""

from __future__ import annotations

import re

import httpx
import pytest

from tests.datasets.conftest import Urls, assert_error, create_dataset
from tests.factories import Identity

TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


async def test_create_returns_every_field(
    api: httpx.AsyncClient, urls: Urls, identity: Identity
) -> None:
    response = await api.post(
        urls.datasets,
        json={"name": "Golden set", "description": "Hard prompts", "metadata": {"owner": "qa"}},
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == {
        "id",
        "name",
        "description",
        "metadata",
        "created_at",
        "updated_at",
        "deleted",
        "created_by",
        "team",
        "item_count",
    }
    assert body["item_count"] == 0
    assert body["name"] == "Golden set"
    assert body["description"] == "Hard prompts"
    assert body["metadata"] == {"owner": "qa"}
    assert body["deleted"] is False
    assert body["team"] == identity.team.id
    assert body["created_by"]["id"] == identity.user.id
    assert body["created_by"]["email"] == identity.user.email
    assert body["created_by"]["uuid"] == str(identity.user.uuid)
    assert TIMESTAMP.match(body["created_at"])
    assert body["created_at"] == body["updated_at"]
    assert (await api.get(urls.dataset(body["id"]))).json() == body


async def test_create_ignores_read_only_and_unknown_fields(
    api: httpx.AsyncClient, urls: Urls, identity: Identity, other: Identity
) -> None:
    forged = {
        "id": "00000000-0000-7000-8000-000000000001",
        "team": other.team.id,
        "created_by": {"id": other.user.id},
        "created_at": "2001-01-01T00:00:00Z",
        "updated_at": "2001-01-01T00:00:00Z",
        "colour": "blue",
    }
    body = await create_dataset(api, urls, name="mine", **forged)
    assert body["id"] != forged["id"]
    assert body["team"] == identity.team.id
    assert body["created_by"]["id"] == identity.user.id
    assert not body["created_at"].startswith("2001")
    assert "colour" not in body


async def test_create_accepts_form_bodies_and_trims_whitespace(
    api: httpx.AsyncClient, urls: Urls
) -> None:
    response = await api.post(urls.datasets, data={"name": "  from curl  ", "deleted": "false"})
    assert response.status_code == 201, response.text
    assert response.json()["name"] == "from curl"
    assert response.json()["metadata"] is None


async def test_create_may_start_deleted(api: httpx.AsyncClient, urls: Urls) -> None:
    body = await create_dataset(api, urls, deleted=True)
    assert body["deleted"] is True
    assert (await api.get(urls.dataset(body["id"]))).status_code == 404


@pytest.mark.parametrize(
    ("payload", "attr", "code", "detail"),
    [
        ({}, "name", "required", "This field is required."),
        ({"name": ""}, "name", "blank", "This field may not be blank."),
        ({"name": "   "}, "name", "blank", "This field may not be blank."),
        ({"name": None}, "name", "null", "This field may not be null."),
        ({"name": ["a"]}, "name", "invalid", "Not a valid string."),
        (
            {"name": "x" * 401},
            "name",
            "max_length",
            "Ensure this field has no more than 400 characters.",
        ),
        (
            {"name": "a\u0000b"},
            "name",
            "null_characters_not_allowed",
            "Null characters are not allowed.",
        ),
        ({"name": "ok", "deleted": "maybe"}, "deleted", "invalid", "Must be a valid boolean."),
        ({"name": "ok", "deleted": None}, "deleted", "null", "This field may not be null."),
        (
            {"name": "ok", "metadata": {"k": ["\u0000"]}},
            "metadata.k.0",
            "null_characters_not_allowed",
            "Null characters are not allowed.",
        ),
    ],
)
async def test_create_validation(
    api: httpx.AsyncClient,
    urls: Urls,
    payload: dict[str, object],
    attr: str,
    code: str,
    detail: str,
) -> None:
    response = await api.post(urls.datasets, json=payload)
    assert assert_error(response, 400, attr, code) == detail
    assert (await api.get(urls.datasets)).json()["count"] == 0


async def test_name_of_exactly_400_characters_is_accepted(
    api: httpx.AsyncClient, urls: Urls
) -> None:
    body = await create_dataset(api, urls, name="é" * 400)
    assert body["name"] == "é" * 400


async def test_numbers_are_read_as_text(api: httpx.AsyncClient, urls: Urls) -> None:
    # As DRF's CharField does.
    body = await create_dataset(api, urls, name=12, description=2.5)
    assert (body["name"], body["description"]) == ("12", "2.5")


async def test_retrieve_missing_malformed_foreign_and_deleted_are_404(
    api: httpx.AsyncClient, urls: Urls, other: Identity, other_api: httpx.AsyncClient
) -> None:
    foreign = await create_dataset(other_api, Urls(other.team.id), name="theirs")
    deleted = await create_dataset(api, urls, name="gone")
    await api.patch(urls.dataset(deleted["id"]), json={"deleted": True})
    for dataset_id in (
        "01a00000-0000-7000-8000-000000000000",
        "not-a-uuid",
        foreign["id"],
        deleted["id"],
    ):
        response = await api.get(urls.dataset(dataset_id))
        assert_error(response, 404, None, "not_found")


async def test_patch_updates_fields_and_moves_updated_at(
    api: httpx.AsyncClient, urls: Urls
) -> None:
    created = await create_dataset(api, urls, description="old", metadata={"v": 1})
    response = await api.patch(
        urls.dataset(created["id"]),
        json={"name": "renamed", "description": None, "metadata": [1, 2], "team": 999},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["name"], body["description"], body["metadata"]) == ("renamed", None, [1, 2])
    assert body["team"] == created["team"]
    assert body["created_at"] == created["created_at"]
    assert body["updated_at"] > created["updated_at"]
    assert (await api.get(urls.dataset(created["id"]))).json() == body

    # Even a PATCH that changes nothing counts as a change, as in DRF.
    again = (await api.patch(urls.dataset(created["id"]), json={})).json()
    assert again["updated_at"] > body["updated_at"]
    assert again["name"] == "renamed"


async def test_patch_validation_changes_nothing(api: httpx.AsyncClient, urls: Urls) -> None:
    created = await create_dataset(api, urls, name="keep")
    response = await api.patch(urls.dataset(created["id"]), json={"name": None})
    assert assert_error(response, 400, "name", "null") == "This field may not be null."
    response = await api.patch(urls.dataset(created["id"]), json={"name": "y" * 401})
    assert_error(response, 400, "name", "max_length")
    assert (await api.get(urls.dataset(created["id"]))).json() == created


async def test_soft_delete_hides_and_restore_brings_back(
    api: httpx.AsyncClient, urls: Urls
) -> None:
    created = await create_dataset(api, urls)
    deleted = await api.patch(urls.dataset(created["id"]), json={"deleted": True})
    assert deleted.status_code == 200
    assert deleted.json()["deleted"] is True
    assert (await api.get(urls.dataset(created["id"]))).status_code == 404
    assert (await api.get(urls.datasets)).json()["count"] == 0

    # PATCH still reaches a deleted row; leaving `deleted` out keeps it deleted.
    renamed = await api.patch(urls.dataset(created["id"]), json={"name": "still gone"})
    assert renamed.status_code == 200
    assert renamed.json()["deleted"] is True
    assert (await api.get(urls.dataset(created["id"]))).status_code == 404

    restored = await api.patch(urls.dataset(created["id"]), json={"deleted": False})
    assert restored.status_code == 200
    assert restored.json()["deleted"] is False
    fetched = await api.get(urls.dataset(created["id"]))
    assert fetched.status_code == 200
    assert fetched.json()["name"] == "still gone"


async def test_delete_is_405_with_an_empty_body(api: httpx.AsyncClient, urls: Urls) -> None:
    created = await create_dataset(api, urls)
    response = await api.delete(urls.dataset(created["id"]))
    assert response.status_code == 405
    assert response.content == b""
    assert (await api.get(urls.dataset(created["id"]))).status_code == 200
    assert (await api.put(urls.datasets, json={})).status_code == 405
    assert (await api.post(urls.dataset(created["id"]), json={})).status_code == 405


async def test_other_team_cannot_read_patch_or_list(
    api: httpx.AsyncClient, urls: Urls, other: Identity, other_api: httpx.AsyncClient
) -> None:
    created = await create_dataset(api, urls, name="private")
    foreign = Urls(other.team.id)
    assert (await other_api.get(foreign.dataset(created["id"]))).status_code == 404
    patched = await other_api.patch(foreign.dataset(created["id"]), json={"name": "pwned"})
    assert patched.status_code == 404
    assert (await other_api.get(foreign.datasets)).json()["count"] == 0
    # Our team's URL is not theirs to use either.
    assert (await other_api.get(urls.datasets)).status_code == 403
    assert (await api.get(urls.dataset(created["id"]))).json()["name"] == "private"


async def test_scopes(
    client: httpx.AsyncClient,
    identity: Identity,
    urls: Urls,
    read_headers: dict[str, str],
    unrelated_headers: dict[str, str],
) -> None:
    created = await client.post(urls.datasets, json={"name": "mine"}, headers=identity.headers)
    assert created.status_code == 201, created.text
    detail_url = urls.dataset(created.json()["id"])
    assert (await client.get(urls.datasets, headers=read_headers)).status_code == 200
    assert (await client.get(detail_url, headers=read_headers)).status_code == 200
    for response in (
        await client.post(urls.datasets, json={"name": "x"}, headers=read_headers),
        await client.patch(detail_url, json={"name": "x"}, headers=read_headers),
        await client.delete(detail_url, headers=read_headers),
    ):
        detail = assert_error(response, 403, None, "permission_denied")
        assert detail == "API key missing required scope 'dataset:write'"
    for response in (
        await client.get(urls.datasets, headers=unrelated_headers),
        await client.get(detail_url, headers=unrelated_headers),
    ):
        detail = assert_error(response, 403, None, "permission_denied")
        assert detail == "API key missing required scope 'dataset:read'"
    assert (await client.get(urls.datasets)).status_code == 401
    assert (await client.get(detail_url)).status_code == 401
    fetched = await client.get(detail_url, headers=identity.headers)
    assert fetched.json()["name"] == "mine"
