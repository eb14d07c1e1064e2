"""`models/`: the curated lists, and live lists with the per-key cache."""

from __future__ import annotations

import datetime as dt
import uuid

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import LLMProviderKey
from app.providers.catalog import CURATED_MODELS
from app.settings import Settings
from tests.factories import Identity
from tests.provider_keys.conftest import FakeProviders, base_path, create_key


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"trial_eval_limit": 7})


@pytest.mark.parametrize("provider", sorted(CURATED_MODELS))
async def test_curated_lists_without_a_key(
    api: httpx.AsyncClient, identity: Identity, fake: FakeProviders, provider: str
) -> None:
    response = await api.get(f"{base_path(identity.team.id)}/models/?provider={provider}")
    assert response.status_code == 200
    models = response.json()["models"]
    assert [m["id"] for m in models] == list(CURATED_MODELS[provider])
    assert all(m["posthog_available"] is False for m in models)
    assert (models != []) == (provider not in ("azure_openai", "openai_compatible"))
    assert fake.requests == []


async def test_posthog_available_follows_the_operator_default(
    app: object, api: httpx.AsyncClient, identity: Identity
) -> None:
    settings: Settings = app.state.settings  # type: ignore[attr-defined]
    app.state.settings = settings.model_copy(  # type: ignore[attr-defined]
        update={"default_llm_provider": "gemini", "default_llm_api_key": SecretStr("AIza-op")}
    )
    base = base_path(identity.team.id)
    gemini = (await api.get(f"{base}/models/?provider=google")).json()["models"]
    assert gemini
    assert all(m["posthog_available"] for m in gemini)
    openai = (await api.get(f"{base}/models/?provider=openai")).json()["models"]
    assert not any(m["posthog_available"] for m in openai)


@pytest.mark.parametrize(
    ("query", "status", "attr"),
    [
        ("", 400, "provider"),
        ("provider=", 400, "provider"),
        ("provider=mistral", 400, "provider"),
        ("provider=openai&key_id=nope", 400, "key_id"),
        ("provider=openai&key_id=0190c8a0-0000-7000-8000-000000000000", 404, None),
        ("provider=openai&model=x", 400, "model"),
    ],
)
async def test_models_bad_queries(
    api: httpx.AsyncClient, identity: Identity, query: str, status: int, attr: str | None
) -> None:
    response = await api.get(f"{base_path(identity.team.id)}/models/?{query}")
    assert response.status_code == status, response.text
    assert response.json()["attr"] == attr
    if status == 404:
        assert response.json()["detail"] == "Key not found."


async def test_live_list_is_exactly_what_the_key_reaches_and_cached(
    api: httpx.AsyncClient, identity: Identity, fake: FakeProviders, session: AsyncSession
) -> None:
    key = await create_key(api, identity.team.id)
    base = base_path(identity.team.id)
    url = f"{base}/models/?provider=openai&key_id={key['id']}"
    fake.requests.clear()
    response = await api.get(url)
    assert response.status_code == 200, response.text
    ids = [m["id"] for m in response.json()["models"]]
    # The live list (deduplicated): its curated ids in curated order, then the rest sorted.
    assert ids == ["gpt-5", "gpt-4.1-mini", "alpha-model", "zeta-model"]
    assert CURATED_MODELS["openai"].index("gpt-5") < CURATED_MODELS["openai"].index("gpt-4.1-mini")
    assert "gpt-4o" in CURATED_MODELS["openai"]  # curated, but the key cannot reach it
    assert len(fake.requests) == 1
    assert (await api.get(f"{base}/provider_keys/{key['id']}/")).json()["last_used_at"]

    # Cached: the provider is not asked again, even when it would now fail.
    fake.fail(500)
    assert [m["id"] for m in (await api.get(url)).json()["models"]] == ids
    assert len(fake.requests) == 1

    # Older than ten minutes: fetched again (and the failure surfaces).
    await session.execute(
        update(LLMProviderKey)
        .where(LLMProviderKey.id == uuid.UUID(key["id"]))
        .values(models_cached_at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=11))
    )
    await session.commit()
    assert (await api.get(url)).status_code == 502
    assert len(fake.requests) == 2

    # A fresh cache, then any PATCH drops it.
    fake.fail(200)
    assert (await api.get(url)).status_code == 200
    assert len(fake.requests) == 3
    await api.patch(f"{base}/provider_keys/{key['id']}/", json={"name": "renamed"})
    assert (await api.get(url)).status_code == 200
    assert len(fake.requests) == 4


async def test_live_list_with_a_bad_key_marks_it_invalid(
    api: httpx.AsyncClient, identity: Identity, fake: FakeProviders
) -> None:
    key = await create_key(api, identity.team.id)
    base = base_path(identity.team.id)
    fake.fail(401)
    response = await api.get(f"{base}/models/?provider=openai&key_id={key['id']}")
    assert response.status_code == 400
    assert (response.json()["attr"], response.json()["detail"]) == ("key_id", "Invalid API key")
    after = (await api.get(f"{base}/provider_keys/{key['id']}/")).json()
    assert (after["state"], after["error_message"]) == ("invalid", "Invalid API key")
    assert after["last_used_at"] is not None


@pytest.mark.parametrize(
    ("status", "error"),
    [(429, None), (500, None), (503, None), (200, httpx.ConnectError), (200, httpx.ReadTimeout)],
)
async def test_live_list_upstream_failures_are_502(
    api: httpx.AsyncClient,
    identity: Identity,
    fake: FakeProviders,
    status: int,
    error: type[Exception] | None,
) -> None:
    key = await create_key(api, identity.team.id)
    fake.fail(status)
    if error is not None:
        fake.raise_(error)
    base = base_path(identity.team.id)
    response = await api.get(f"{base}/models/?provider=openai&key_id={key['id']}")
    assert response.status_code == 502, response.text
    assert response.json()["type"] == "server_error"
    assert response.json()["detail"].startswith("Could not list models from OpenAI")
    assert (await api.get(f"{base}/provider_keys/{key['id']}/")).json()["state"] == "ok"


async def test_key_of_another_provider(api: httpx.AsyncClient, identity: Identity) -> None:
    key = await create_key(api, identity.team.id)
    response = await api.get(
        f"{base_path(identity.team.id)}/models/?provider=anthropic&key_id={key['id']}"
    )
    assert response.status_code == 400
    assert response.json()["attr"] == "key_id"
    assert "does not match" in response.json()["detail"]
