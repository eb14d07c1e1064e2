"""Creating, listing and reading provider keys (SPEC §5.3)."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import LLMProviderKey
from tests.factories import Identity
from tests.provider_keys.conftest import OPENAI_KEY, FakeProviders, base_path, create_key


async def count_keys(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(LLMProviderKey)) or 0)


async def test_create_validates_live_and_masks(
    api: httpx.AsyncClient, identity: Identity, fake: FakeProviders
) -> None:
    body = await create_key(api, identity.team.id)
    assert body["provider"] == "openai"
    assert body["name"] == "Main key"
    assert body["state"] == "ok"
    assert body["error_message"] is None
    assert body["api_key_masked"] == "sk-p...0123"
    assert body["set_as_active"] is False
    assert body["last_used_at"] is None
    assert body["created_by"]["id"] == identity.user.id
    assert body["azure_endpoint_display"] is None
    assert body["api_version_display"] is None
    assert "api_key" not in body
    (request,) = fake.requests
    assert str(request.url) == "https://api.openai.com/v1/models"
    assert request.headers["authorization"] == f"Bearer {OPENAI_KEY}"


async def test_google_is_stored_as_gemini_and_short_keys_mask_fully(
    api: httpx.AsyncClient, identity: Identity
) -> None:
    body = await create_key(api, identity.team.id, provider="google", api_key="AIza1234")
    assert body["provider"] == "gemini"
    assert body["api_key_masked"] == "****"


async def test_form_encoded_create(api: httpx.AsyncClient, identity: Identity) -> None:
    response = await api.post(
        f"{base_path(identity.team.id)}/provider_keys/",
        data={"provider": "openrouter", "name": "Router", "api_key": "or-key-123456789"},
    )
    assert response.status_code == 201, response.text
    assert response.json()["provider"] == "openrouter"


async def test_set_as_active_makes_it_the_active_key(
    api: httpx.AsyncClient, identity: Identity
) -> None:
    first = await create_key(api, identity.team.id, set_as_active=True)
    assert first["set_as_active"] is True
    second = await create_key(api, identity.team.id, name="Second", set_as_active="true")
    base = base_path(identity.team.id)
    listed = (await api.get(f"{base}/provider_keys/")).json()["results"]
    assert [(k["id"], k["set_as_active"]) for k in listed] == [
        (second["id"], True),
        (first["id"], False),
    ]
    config = (await api.get(f"{base}/evaluation_config/")).json()
    assert config["active_provider_key"]["id"] == second["id"]


@pytest.mark.parametrize(
    ("body", "attr", "code", "detail"),
    [
        ({"provider": "openai", "name": "k"}, "api_key", "required", "This field is required."),
        ({"provider": "openai", "name": "k", "api_key": ""}, "api_key", "blank", None),
        ({"provider": "openai", "name": "k", "api_key": None}, "api_key", "null", None),
        ({"name": "k", "api_key": OPENAI_KEY}, "provider", "required", None),
        ({"provider": "mistral", "name": "k", "api_key": "x"}, "provider", "invalid_choice", None),
        ({"provider": "openai", "api_key": OPENAI_KEY}, "name", "required", None),
        ({"provider": "openai", "name": "  ", "api_key": OPENAI_KEY}, "name", "blank", None),
        (
            {"provider": "openai", "name": "x" * 256, "api_key": OPENAI_KEY},
            "name",
            "max_length",
            None,
        ),
        (
            {"provider": "openai", "name": "k", "api_key": "abc-123456789"},
            "api_key",
            "invalid",
            "Invalid OpenAI API key format. Key should start with 'sk-' or 'sk-proj-'.",
        ),
        (
            {"provider": "anthropic", "name": "k", "api_key": "sk-123456789"},
            "api_key",
            "invalid",
            "Invalid Anthropic API key format. Key should start with 'sk-ant-'.",
        ),
        (
            {"provider": "azure_openai", "name": "k", "api_key": "azkey123456"},
            "azure_endpoint",
            "required",
            "This field is required.",
        ),
        (
            {"provider": "openai_compatible", "name": "k", "api_key": "local"},
            "base_url",
            "required",
            "This field is required.",
        ),
        (
            {"provider": "openai_compatible", "name": "k", "api_key": "x", "base_url": "ftp://a"},
            "base_url",
            "invalid",
            "Only http and https URLs are allowed.",
        ),
    ],
)
async def test_bad_input_is_400_and_nothing_is_stored(
    api: httpx.AsyncClient,
    identity: Identity,
    session: AsyncSession,
    fake: FakeProviders,
    body: dict[str, object],
    attr: str,
    code: str,
    detail: str | None,
) -> None:
    response = await api.post(f"{base_path(identity.team.id)}/provider_keys/", json=body)
    assert response.status_code == 400, response.text
    error = response.json()
    assert (error["type"], error["attr"], error["code"]) == ("validation_error", attr, code)
    if detail is not None:
        assert error["detail"] == detail
    if code == "invalid_choice":
        assert "openai, anthropic, gemini" in error["detail"]
    assert fake.requests == []
    assert await count_keys(session) == 0


@pytest.mark.parametrize(
    ("status", "error", "message"),
    [
        (401, None, "Invalid API key"),
        (403, None, "Invalid API key"),
        (429, None, "Rate limited, please try again later"),
        (500, None, "OpenAI is unavailable (HTTP 500)"),
        (None, httpx.ConnectError, "Could not connect to OpenAI"),
        (None, httpx.ReadTimeout, "Could not connect to OpenAI"),
    ],
)
async def test_a_key_that_fails_live_validation_is_not_stored(
    api: httpx.AsyncClient,
    identity: Identity,
    session: AsyncSession,
    fake: FakeProviders,
    status: int | None,
    error: type[Exception] | None,
    message: str,
) -> None:
    if status is not None:
        fake.fail(status)
    if error is not None:
        fake.raise_(error)
    response = await api.post(
        f"{base_path(identity.team.id)}/provider_keys/",
        json={"provider": "openai", "name": "k", "api_key": OPENAI_KEY, "set_as_active": True},
    )
    assert response.status_code == 400, response.text
    assert response.json()["attr"] == "api_key"
    assert response.json()["detail"] == message
    assert await count_keys(session) == 0
    config = (await api.get(f"{base_path(identity.team.id)}/evaluation_config/")).json()
    assert config["active_provider_key"] is None


async def test_azure_and_openai_compatible_fields(
    api: httpx.AsyncClient, identity: Identity, fake: FakeProviders
) -> None:
    azure = await create_key(
        api,
        identity.team.id,
        provider="azure_openai",
        api_key="azure-secret-123456",
        azure_endpoint="https://myres.openai.azure.com/",
    )
    assert azure["azure_endpoint"] == "https://myres.openai.azure.com"
    assert azure["azure_endpoint_display"] == "https://myres.openai.azure.com"
    assert azure["api_version"] == azure["api_version_display"] == "2024-10-21"
    assert str(fake.requests[-1].url) == (
        "https://myres.openai.azure.com/openai/models?api-version=2024-10-21"
    )
    local = await create_key(
        api,
        identity.team.id,
        provider="openai_compatible",
        api_key="ollama",
        base_url="http://127.0.0.1:11434/v1",
        azure_endpoint="https://ignored.openai.azure.com",
    )
    assert local["base_url"] == "http://127.0.0.1:11434/v1"
    assert "azure_endpoint" not in local
    assert local["azure_endpoint_display"] is None
    assert str(fake.requests[-1].url) == "http://127.0.0.1:11434/v1/models"


async def test_list_is_newest_first_and_paginated(
    api: httpx.AsyncClient, identity: Identity
) -> None:
    ids = [(await create_key(api, identity.team.id, name=f"k{i}"))["id"] for i in range(3)]
    base = base_path(identity.team.id)
    body = (await api.get(f"{base}/provider_keys/?limit=2")).json()
    assert body["count"] == 3
    assert [k["id"] for k in body["results"]] == [ids[2], ids[1]]
    assert body["next"].endswith("limit=2&offset=2")
    rest = (await api.get(body["next"])).json()
    assert [k["id"] for k in rest["results"]] == [ids[0]]
    bad = await api.get(f"{base}/provider_keys/?limit=-1")
    assert bad.status_code == 400
    unknown = await api.get(f"{base}/provider_keys/?provider=openai")
    assert unknown.status_code == 400
    assert unknown.json()["attr"] == "provider"


async def test_retrieve_and_missing_ids(api: httpx.AsyncClient, identity: Identity) -> None:
    created = await create_key(api, identity.team.id)
    base = base_path(identity.team.id)
    response = await api.get(f"{base}/provider_keys/{created['id']}/")
    assert response.status_code == 200
    assert response.json() == created
    via_projects = await api.get(
        f"/api/projects/{identity.team.id}/llm_analytics/provider_keys/{created['id']}"
    )
    assert via_projects.status_code == 200
    for missing in ("0190c8a0-0000-7000-8000-000000000000", "not-a-uuid"):
        response = await api.get(f"{base}/provider_keys/{missing}/")
        assert response.status_code == 404
        assert response.json()["type"] == "invalid_request"


async def test_another_teams_keys_are_invisible(
    api: httpx.AsyncClient,
    identity: Identity,
    other: Identity,
    other_api: httpx.AsyncClient,
    session: AsyncSession,
) -> None:
    theirs = await create_key(other_api, other.team.id)
    base = base_path(identity.team.id)
    key_url = f"{base}/provider_keys/{theirs['id']}/"
    assert (await api.get(key_url)).status_code == 404
    assert (await api.patch(key_url, json={"name": "mine"})).status_code == 404
    assert (await api.delete(key_url)).status_code == 404
    assert (await api.post(f"{key_url}validate/")).status_code == 404
    assert (await api.get(f"{base}/provider_keys/")).json()["count"] == 0
    models = await api.get(f"{base}/models/?provider=openai&key_id={theirs['id']}")
    assert models.status_code == 404
    activate = await api.post(
        f"{base}/evaluation_config/set_active_key/", json={"key_id": theirs["id"]}
    )
    assert activate.status_code == 404
    assert activate.json()["detail"] == "Key not found."
    # Reaching into their team through our key is refused too, and their key is untouched.
    foreign = await api.get(f"{base_path(other.team.id)}/provider_keys/{theirs['id']}/")
    assert foreign.status_code == 403
    still = await other_api.get(f"{base_path(other.team.id)}/provider_keys/{theirs['id']}/")
    assert still.json() == theirs
