"""PATCH, DELETE and `validate/` on provider keys: the state machine of SPEC §5.3."""

from __future__ import annotations

import uuid

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.crypto import SecretBox
from app.models import LLMProviderKey
from tests.factories import Identity
from tests.provider_keys.conftest import OPENAI_KEY, FakeProviders, base_path, create_key

NEW_KEY = "sk-proj-NEWNEWNEWNEWNEWNEWNEW9876"


async def stored(session: AsyncSession, key_id: str) -> LLMProviderKey:
    result = await session.scalars(
        select(LLMProviderKey)
        .where(LLMProviderKey.id == uuid.UUID(key_id))
        .execution_options(populate_existing=True)
    )
    return result.one()


def box_of(app: object) -> SecretBox:
    box: SecretBox = app.state.secret_box  # type: ignore[attr-defined]
    return box


async def test_rename_makes_no_provider_call(
    api: httpx.AsyncClient, identity: Identity, fake: FakeProviders
) -> None:
    key = await create_key(api, identity.team.id)
    fake.requests.clear()
    url = f"{base_path(identity.team.id)}/provider_keys/{key['id']}/"
    response = await api.patch(url, json={"name": "Renamed", "provider": "anthropic"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["name"] == "Renamed"
    assert body["provider"] == "openai"  # provider cannot change
    assert body["state"] == "ok"
    assert fake.requests == []
    blank = await api.patch(url, json={"name": ""})
    assert (blank.status_code, blank.json()["attr"]) == (400, "name")
    null = await api.patch(url, json={"name": None})
    assert (null.status_code, null.json()["attr"]) == (400, "name")
    assert (await api.get(url)).json()["name"] == "Renamed"


async def test_new_key_is_validated_and_an_invalid_one_keeps_the_old(
    api: httpx.AsyncClient,
    identity: Identity,
    fake: FakeProviders,
    session: AsyncSession,
    app: object,
) -> None:
    key = await create_key(api, identity.team.id)
    url = f"{base_path(identity.team.id)}/provider_keys/{key['id']}/"
    fake.fail(401)
    response = await api.patch(url, json={"api_key": NEW_KEY, "name": "Should not stick"})
    assert response.status_code == 400
    assert (response.json()["attr"], response.json()["detail"]) == ("api_key", "Invalid API key")
    row = await stored(session, key["id"])
    assert box_of(app).decrypt(row.encrypted_api_key) == OPENAI_KEY
    assert (row.name, row.api_key_masked, row.state) == ("Main key", "sk-p...0123", "ok")

    bad_format = await api.patch(url, json={"api_key": "not-a-key"})
    assert (bad_format.status_code, bad_format.json()["attr"]) == (400, "api_key")

    fake.fail(200)
    response = await api.patch(url, json={"api_key": NEW_KEY})
    assert response.status_code == 200, response.text
    assert response.json()["api_key_masked"] == "sk-p...9876"
    assert response.json()["state"] == "ok"
    assert fake.requests[-1].headers["authorization"] == f"Bearer {NEW_KEY}"
    row = await stored(session, key["id"])
    assert box_of(app).decrypt(row.encrypted_api_key) == NEW_KEY


async def test_changing_the_endpoint_requires_the_api_key(
    api: httpx.AsyncClient, identity: Identity, fake: FakeProviders
) -> None:
    key = await create_key(
        api, identity.team.id, provider="openai_compatible", api_key="x", base_url="http://a:1/v1"
    )
    url = f"{base_path(identity.team.id)}/provider_keys/{key['id']}/"
    fake.requests.clear()
    same = await api.patch(url, json={"base_url": "http://a:1/v1/"})
    assert (same.status_code, same.json()["state"]) == (200, "ok")
    moved = await api.patch(url, json={"base_url": "http://b:2/v1", "name": "Renamed"})
    assert (moved.status_code, moved.json()["attr"]) == (400, "api_key")
    after = (await api.get(url)).json()
    assert (after["base_url"], after["name"], after["state"]) == ("http://a:1/v1", "Main key", "ok")
    assert fake.requests == []
    removed = await api.patch(url, json={"base_url": None})
    assert (removed.status_code, removed.json()["attr"]) == (400, "base_url")
    with_key = await api.patch(url, json={"base_url": "http://c:3/v1", "api_key": "y"})
    assert with_key.json()["state"] == "ok"
    assert str(fake.requests[-1].url) == "http://c:3/v1/models"


async def test_azure_endpoint_and_version_changes(
    api: httpx.AsyncClient, identity: Identity
) -> None:
    key = await create_key(
        api,
        identity.team.id,
        provider="azure_openai",
        api_key="azure-123456789",
        azure_endpoint="https://one.openai.azure.com",
        api_version="2024-06-01",
    )
    assert key["api_version_display"] == "2024-06-01"
    url = f"{base_path(identity.team.id)}/provider_keys/{key['id']}/"
    refused = await api.patch(url, json={"azure_endpoint": "https://two.openai.azure.com"})
    assert (refused.status_code, refused.json()["attr"]) == (400, "api_key")
    moved = await api.patch(
        url, json={"azure_endpoint": "https://two.openai.azure.com", "api_key": "azure-987654321"}
    )
    assert moved.json()["azure_endpoint_display"] == "https://two.openai.azure.com"
    assert moved.json()["state"] == "ok"
    # The API version is not a host: changing it alone keeps the secret where it was checked.
    body = (await api.patch(url, json={"api_version": "2025-01-01"})).json()
    assert (body["api_version_display"], body["state"]) == ("2025-01-01", "unknown")


async def test_set_as_active_on_patch(api: httpx.AsyncClient, identity: Identity) -> None:
    key = await create_key(api, identity.team.id)
    base = base_path(identity.team.id)
    url = f"{base}/provider_keys/{key['id']}/"
    assert (await api.patch(url, json={"set_as_active": True})).json()["set_as_active"] is True
    config = (await api.get(f"{base}/evaluation_config/")).json()
    assert config["active_provider_key"]["id"] == key["id"]
    assert (await api.patch(url, json={"set_as_active": False})).json()["set_as_active"] is False
    assert (await api.get(f"{base}/evaluation_config/")).json()["active_provider_key"] is None


async def test_delete_clears_the_active_key(api: httpx.AsyncClient, identity: Identity) -> None:
    key = await create_key(api, identity.team.id, set_as_active=True)
    keep = await create_key(api, identity.team.id, name="Keep")
    base = base_path(identity.team.id)
    url = f"{base}/provider_keys/{key['id']}/"
    response = await api.delete(url)
    assert response.status_code == 204
    assert response.content == b""
    assert (await api.get(url)).status_code == 404
    assert (await api.delete(url)).status_code == 404
    assert (await api.get(f"{base}/evaluation_config/")).json()["active_provider_key"] is None
    assert [k["id"] for k in (await api.get(f"{base}/provider_keys/")).json()["results"]] == [
        keep["id"]
    ]


@pytest.mark.parametrize(
    ("status", "error", "state", "message"),
    [
        (200, None, "ok", None),
        (401, None, "invalid", "Invalid API key"),
        (429, None, "error", "Rate limited, please try again later"),
        (503, None, "error", "OpenAI is unavailable (HTTP 503)"),
        (200, httpx.ConnectTimeout, "error", "Could not connect to OpenAI"),
    ],
)
async def test_validate_saves_the_outcome(
    api: httpx.AsyncClient,
    identity: Identity,
    fake: FakeProviders,
    status: int,
    error: type[Exception] | None,
    state: str,
    message: str | None,
) -> None:
    key = await create_key(api, identity.team.id)
    fake.fail(status)
    if error is not None:
        fake.raise_(error)
    url = f"{base_path(identity.team.id)}/provider_keys/{key['id']}/"
    # A body-less POST, as the seed's curl sends it.
    response = await api.post(f"{url}validate/")
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["state"], body["error_message"]) == (state, message)
    assert body["last_used_at"] is not None
    assert (await api.get(url)).json()["state"] == state


async def test_method_not_allowed(api: httpx.AsyncClient, identity: Identity) -> None:
    key = await create_key(api, identity.team.id)
    base = base_path(identity.team.id)
    assert (await api.put(f"{base}/provider_keys/{key['id']}/", json={})).status_code == 405
    assert (await api.delete(f"{base}/provider_keys/")).status_code == 405
    assert (await api.get(f"{base}/provider_keys/{key['id']}/validate/")).status_code == 405
    assert (await api.get(f"{base}/provider_key_validations/")).status_code == 405
    assert (await api.post(f"{base}/models/", json={})).status_code == 405
    assert (await api.patch(f"{base}/evaluation_config/", json={})).status_code == 405
    assert (await api.get(f"{base}/evaluation_config/set_active_key/")).status_code == 405
