"""`POST …/provider_key_validations/` (SPEC §5.4): check a key, store nothing."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import LLMProviderKey
from tests.factories import Identity
from tests.provider_keys.conftest import OPENAI_KEY, FakeProviders, base_path


def url(identity: Identity) -> str:
    return f"{base_path(identity.team.id)}/provider_key_validations/"


@pytest.mark.parametrize(
    ("status", "error", "state", "message"),
    [
        (200, None, "ok", None),
        (401, None, "invalid", "Invalid API key"),
        (403, None, "invalid", "Invalid API key"),
        (429, None, "error", "Rate limited, please try again later"),
        (500, None, "error", "OpenAI is unavailable (HTTP 500)"),
        (200, httpx.ConnectError, "error", "Could not connect to OpenAI"),
        (200, httpx.ReadTimeout, "error", "Could not connect to OpenAI"),
    ],
)
async def test_outcomes_are_201_and_nothing_is_stored(
    api: httpx.AsyncClient,
    identity: Identity,
    session: AsyncSession,
    fake: FakeProviders,
    status: int,
    error: type[Exception] | None,
    state: str,
    message: str | None,
) -> None:
    fake.fail(status)
    if error is not None:
        fake.raise_(error)
    # `provider` defaults to openai.
    response = await api.post(url(identity), json={"api_key": OPENAI_KEY})
    assert response.status_code == 201, response.text
    assert response.json() == {"state": state, "error_message": message}
    assert str(fake.requests[0].url) == "https://api.openai.com/v1/models"
    assert await session.scalar(select(func.count()).select_from(LLMProviderKey)) == 0


async def test_gemini_alias_and_its_invalid_key_answer(
    api: httpx.AsyncClient, identity: Identity, fake: FakeProviders
) -> None:
    fake.fail(
        400, {"error": {"status": "INVALID_ARGUMENT", "details": [{"reason": "API_KEY_INVALID"}]}}
    )
    response = await api.post(url(identity), data={"provider": "google", "api_key": "AIza-123456"})
    assert response.json() == {"state": "invalid", "error_message": "Invalid API key"}
    assert fake.requests[0].url.host == "generativelanguage.googleapis.com"
    assert fake.requests[0].headers["x-goog-api-key"] == "AIza-123456"


async def test_a_malformed_key_is_invalid_without_a_call(
    api: httpx.AsyncClient, identity: Identity, fake: FakeProviders
) -> None:
    response = await api.post(url(identity), json={"provider": "anthropic", "api_key": "sk-x"})
    assert response.status_code == 201
    assert response.json() == {
        "state": "invalid",
        "error_message": "Invalid Anthropic API key format. Key should start with 'sk-ant-'.",
    }
    assert fake.requests == []


@pytest.mark.parametrize(
    ("body", "attr", "detail"),
    [
        ({}, "api_key", "API key is required."),
        ({"provider": "openai", "api_key": "  "}, "api_key", "API key is required."),
        ({"provider": "openai", "api_key": None}, "api_key", "API key is required."),
        ({"provider": "mistral", "api_key": "x"}, "provider", None),
        ({"provider": "azure_openai", "api_key": "x"}, "azure_endpoint", "This field is required."),
    ],
)
async def test_bad_requests(
    api: httpx.AsyncClient,
    identity: Identity,
    fake: FakeProviders,
    body: dict[str, object],
    attr: str,
    detail: str | None,
) -> None:
    response = await api.post(url(identity), json=body)
    assert response.status_code == 400, response.text
    assert response.json()["attr"] == attr
    if detail is not None:
        assert response.json()["detail"] == detail
    else:
        assert (
            "openai, anthropic, gemini, openrouter, fireworks, together_ai"
            in (response.json()["detail"])
        )
    assert fake.requests == []
