"""Every adapter's validate_key and list_models against every provider outcome (SPEC §6)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from app.providers import base
from app.providers.registry import get_adapter
from tests.providers.conftest import ALL_PROVIDERS, SECRET, Recorder, make_credentials

DISPLAY = {
    "openai": "OpenAI",
    "anthropic": "Anthropic",
    "gemini": "Gemini",
    "openrouter": "OpenRouter",
    "fireworks": "Fireworks",
    "together_ai": "Together AI",
    "azure_openai": "Azure OpenAI",
    "openai_compatible": "OpenAI-compatible server",
}
GEMINI_BAD_KEY = {
    "error": {
        "code": 400,
        "message": "API key not valid. Please pass a valid API key.",
        "status": "INVALID_ARGUMENT",
        "details": [
            {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"}
        ],
    }
}


def model_list(provider: str) -> Any:
    if provider == "gemini":
        return {
            "models": [
                {
                    "name": "models/gemini-2.5-flash",
                    "supportedGenerationMethods": ["generateContent"],
                },
                {
                    "name": "models/text-embedding-004",
                    "supportedGenerationMethods": ["embedContent"],
                },
            ]
        }
    if provider == "together_ai":
        return [{"id": "meta-llama/Llama-3.3-70B-Instruct-Turbo"}, {"id": "other"}]
    if provider == "anthropic":
        return {"data": [{"id": "claude-sonnet-4-5"}], "has_more": False, "last_id": "x"}
    return {"data": [{"id": "model-a"}, {"id": "model-b"}]}


EXPECTED_IDS = {
    "gemini": ["gemini-2.5-flash"],
    "together_ai": ["meta-llama/Llama-3.3-70B-Instruct-Turbo", "other"],
    "anthropic": ["claude-sonnet-4-5"],
}


def responder(status: int, body: Any) -> Callable[[httpx.Request], httpx.Response]:
    return lambda request: httpx.Response(status, json=body)


def raiser(error: type[httpx.TransportError]) -> Callable[[httpx.Request], httpx.Response]:
    def handler(request: httpx.Request) -> httpx.Response:
        raise error("simulated", request=request)

    return handler


OUTCOMES: list[tuple[str, Callable[[str], Callable[[httpx.Request], httpx.Response]]]] = [
    ("401", lambda p: responder(401, {"error": {"message": f"bad key {SECRET}"}})),
    ("403", lambda p: responder(403, {"error": "forbidden"})),
    ("429", lambda p: responder(429, {"error": "slow down"})),
    ("500", lambda p: responder(500, {"error": "boom"})),
    ("connect", lambda p: raiser(httpx.ConnectError)),
    ("timeout", lambda p: raiser(httpx.ReadTimeout)),
    ("gemini-400", lambda p: responder(400, GEMINI_BAD_KEY)),
]


def expected_check(provider: str, outcome: str) -> base.KeyCheck:
    name = DISPLAY[provider]
    if outcome in ("401", "403"):
        return base.KeyCheck(base.KeyState.INVALID, "Invalid API key")
    if outcome == "gemini-400":
        if provider == "gemini":
            return base.KeyCheck(base.KeyState.INVALID, "Invalid API key")
        return base.KeyCheck(
            base.KeyState.ERROR,
            f"{name} rejected the request (HTTP 400): "
            "API key not valid. Please pass a valid API key.",
        )
    if outcome == "429":
        return base.KeyCheck(base.KeyState.ERROR, "Rate limited, please try again later")
    if outcome == "500":
        return base.KeyCheck(base.KeyState.ERROR, f"{name} is unavailable (HTTP 500)")
    return base.KeyCheck(base.KeyState.ERROR, f"Could not connect to {name}")


EXPECTED_ERROR: dict[str, type[base.ProviderError]] = {
    "401": base.ProviderAuthError,
    "403": base.ProviderAuthError,
    "429": base.ProviderRateLimited,
    "500": base.ProviderUnavailable,
    "connect": base.ProviderUnavailable,
    "timeout": base.ProviderTimeout,
}


@pytest.mark.parametrize("provider", ALL_PROVIDERS)
async def test_validate_ok_calls_the_documented_endpoint(
    provider: str, client_for: Callable[..., tuple[httpx.AsyncClient, Recorder]]
) -> None:
    client, recorder = client_for(responder(200, model_list(provider)))
    async with client:
        check = await get_adapter(provider).validate_key(client, make_credentials(provider))
    assert check == base.KeyCheck(base.KeyState.OK, None)
    (request,) = recorder.requests
    assert request.method == "GET"
    url, headers = str(request.url), request.headers
    if provider == "anthropic":
        assert url.startswith("https://api.anthropic.com/v1/models")
        assert headers["x-api-key"] == SECRET
        assert headers["anthropic-version"] == "2023-06-01"
    elif provider == "gemini":
        assert url.startswith("https://generativelanguage.googleapis.com/v1beta/models")
        assert headers["x-goog-api-key"] == SECRET
    elif provider == "azure_openai":
        assert url == "https://res.openai.azure.com/openai/models?api-version=2024-10-21"
        assert headers["api-key"] == SECRET
    else:
        bases = {
            "openai": "https://api.openai.com/v1",
            "openrouter": "https://openrouter.ai/api/v1",
            "fireworks": "https://api.fireworks.ai/inference/v1",
            "together_ai": "https://api.together.xyz/v1",
            "openai_compatible": "http://llm.example.test:8000/v1",
        }
        assert url == f"{bases[provider]}/models"
        assert headers["authorization"] == f"Bearer {SECRET}"


@pytest.mark.parametrize("outcome", [name for name, _ in OUTCOMES])
@pytest.mark.parametrize("provider", ALL_PROVIDERS)
async def test_validate_outcomes(
    provider: str, outcome: str, client_for: Callable[..., tuple[httpx.AsyncClient, Recorder]]
) -> None:
    handler = dict(OUTCOMES)[outcome](provider)
    client, _ = client_for(handler)
    async with client:
        check = await get_adapter(provider).validate_key(client, make_credentials(provider))
    assert check == expected_check(provider, outcome)
    assert SECRET not in (check.error_message or "")


@pytest.mark.parametrize("provider", ALL_PROVIDERS)
async def test_list_models_ok(
    provider: str, client_for: Callable[..., tuple[httpx.AsyncClient, Recorder]]
) -> None:
    client, _ = client_for(responder(200, model_list(provider)))
    async with client:
        ids = await get_adapter(provider).list_models(client, make_credentials(provider))
    assert ids == EXPECTED_IDS.get(provider, ["model-a", "model-b"])


@pytest.mark.parametrize("outcome", [name for name, _ in OUTCOMES])
@pytest.mark.parametrize("provider", ALL_PROVIDERS)
async def test_list_models_failures(
    provider: str, outcome: str, client_for: Callable[..., tuple[httpx.AsyncClient, Recorder]]
) -> None:
    handler = dict(OUTCOMES)[outcome](provider)
    client, _ = client_for(handler)
    if outcome == "gemini-400":
        expected: type[base.ProviderError] = (
            base.ProviderAuthError if provider == "gemini" else base.ProviderError
        )
    else:
        expected = EXPECTED_ERROR[outcome]
    async with client:
        with pytest.raises(expected) as caught:
            await get_adapter(provider).list_models(client, make_credentials(provider))
    assert type(caught.value) is expected
    assert SECRET not in str(caught.value)


async def test_list_models_rejects_a_body_that_is_not_json(
    client_for: Callable[..., tuple[httpx.AsyncClient, Recorder]],
) -> None:
    client, _ = client_for(lambda request: httpx.Response(200, content=b"<html>"))
    async with client:
        with pytest.raises(base.ProviderBadResponse):
            await get_adapter("openai").list_models(client, make_credentials("openai"))


async def test_anthropic_and_gemini_follow_pages(
    client_for: Callable[..., tuple[httpx.AsyncClient, Recorder]],
) -> None:
    def anthropic_pages(request: httpx.Request) -> httpx.Response:
        if request.url.params.get("after_id") == "claude-a":
            return httpx.Response(200, json={"data": [{"id": "claude-b"}], "has_more": False})
        return httpx.Response(
            200, json={"data": [{"id": "claude-a"}], "has_more": True, "last_id": "claude-a"}
        )

    def gemini_pages(request: httpx.Request) -> httpx.Response:
        if request.url.params.get("pageToken") == "next":
            return httpx.Response(200, json={"models": [{"name": "models/gemini-b"}]})
        return httpx.Response(
            200, json={"models": [{"name": "models/gemini-a"}], "nextPageToken": "next"}
        )

    client, recorder = client_for(anthropic_pages)
    async with client:
        ids = await get_adapter("anthropic").list_models(client, make_credentials("anthropic"))
    assert ids == ["claude-a", "claude-b"]
    assert len(recorder.requests) == 2
    client, recorder = client_for(gemini_pages)
    async with client:
        ids = await get_adapter("google").list_models(client, make_credentials("gemini"))
    assert ids == ["gemini-a", "gemini-b"]
