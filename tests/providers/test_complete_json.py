"""Structured completions for each wire protocol, their failure mapping, the Gemini schema
translation, per-request timeouts and the call-time SSRF guard."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from app.providers import base
from app.providers.gemini import to_gemini_schema
from app.providers.registry import credentials_for, get_adapter
from tests.providers.conftest import SECRET, Recorder, make_credentials, make_settings

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "verdict": {"type": "string", "enum": ["pass", "fail"]},
        "notes": {"type": ["string", "null"]},
        "items": {"type": "array", "items": {"$ref": "#/$defs/Item"}},
    },
    "required": ["verdict", "notes", "items"],
    "additionalProperties": False,
    "$defs": {
        "Item": {
            "type": "object",
            "properties": {"title": {"type": "string"}},
            "required": ["title"],
            "additionalProperties": False,
        }
    },
}
ANSWER = {"verdict": "pass", "notes": None, "items": [{"title": "t"}]}
REQUEST = base.StructuredRequest(
    model="some-model", system="be brief", user="judge this", schema=SCHEMA, schema_name="summary"
)
Build = Callable[[Callable[[httpx.Request], httpx.Response]], tuple[httpx.AsyncClient, Recorder]]


def chat_reply(content: str) -> dict[str, Any]:
    return {"choices": [{"message": {"role": "assistant", "content": content}}]}


def success_for(provider: str) -> dict[str, Any]:
    if provider == "anthropic":
        return {
            "content": [
                {"type": "text", "text": "Here you go"},
                {"type": "tool_use", "name": "summary", "input": ANSWER},
            ]
        }
    if provider == "gemini":
        text = json.dumps(ANSWER)
        return {"candidates": [{"content": {"parts": [{"text": text[:10]}, {"text": text[10:]}]}}]}
    return chat_reply(json.dumps(ANSWER))


@pytest.mark.parametrize(
    "provider", ["openai", "openrouter", "together_ai", "openai_compatible", "azure_openai"]
)
async def test_openai_style_requests_json_schema(provider: str, client_for: Build) -> None:
    client, recorder = client_for(lambda request: httpx.Response(200, json=success_for(provider)))
    async with client:
        answer = await get_adapter(provider).complete_json(
            client, make_credentials(provider), REQUEST
        )
    assert answer == ANSWER
    (request,) = recorder.requests
    sent = json.loads(request.content)
    assert sent["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "summary", "schema": SCHEMA, "strict": True},
    }
    assert sent["messages"] == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "judge this"},
    ]
    if provider == "azure_openai":
        assert str(request.url) == (
            "https://res.openai.azure.com/openai/deployments/some-model/chat/completions"
            "?api-version=2024-10-21"
        )
        assert "model" not in sent
        assert request.headers["api-key"] == SECRET
    else:
        assert request.url.path.endswith("/chat/completions")
        assert sent["model"] == "some-model"
        assert request.headers["authorization"] == f"Bearer {SECRET}"
    token_field = (
        "max_completion_tokens" if provider in ("openai", "azure_openai") else "max_tokens"
    )
    assert sent[token_field] == 4096


async def test_anthropic_forces_a_tool_with_the_schema(client_for: Build) -> None:
    client, recorder = client_for(
        lambda request: httpx.Response(200, json=success_for("anthropic"))
    )
    async with client:
        answer = await get_adapter("anthropic").complete_json(
            client, make_credentials("anthropic"), REQUEST
        )
    assert answer == ANSWER
    (request,) = recorder.requests
    assert str(request.url) == "https://api.anthropic.com/v1/messages"
    sent = json.loads(request.content)
    assert sent["tools"][0]["input_schema"] == SCHEMA
    assert sent["tools"][0]["name"] == "summary"
    assert sent["tool_choice"] == {"type": "tool", "name": "summary"}
    assert sent["system"] == "be brief"
    assert sent["model"] == "some-model"


async def test_gemini_generate_content_with_a_response_schema(client_for: Build) -> None:
    client, recorder = client_for(lambda request: httpx.Response(200, json=success_for("gemini")))
    async with client:
        answer = await get_adapter("gemini").complete_json(
            client, make_credentials("gemini"), REQUEST
        )
    assert answer == ANSWER
    (request,) = recorder.requests
    assert request.url.path == "/v1beta/models/some-model:generateContent"
    assert request.headers["x-goog-api-key"] == SECRET
    config = json.loads(request.content)["generationConfig"]
    assert config["responseMimeType"] == "application/json"
    assert config["responseSchema"] == to_gemini_schema(SCHEMA)


def test_gemini_schema_translation() -> None:
    converted = to_gemini_schema(SCHEMA)
    assert converted == {
        "type": "OBJECT",
        "required": ["verdict", "notes", "items"],
        "properties": {
            "verdict": {"type": "STRING", "enum": ["pass", "fail"]},
            "notes": {"type": "STRING", "nullable": True},
            "items": {
                "type": "ARRAY",
                "items": {
                    "type": "OBJECT",
                    "required": ["title"],
                    "properties": {"title": {"type": "STRING"}},
                    "propertyOrdering": ["title"],
                },
            },
        },
        "propertyOrdering": ["verdict", "notes", "items"],
    }
    nullable_ref = to_gemini_schema(
        {"anyOf": [{"$ref": "#/$defs/X"}, {"type": "null"}], "$defs": {"X": {"type": "integer"}}}
    )
    assert nullable_ref == {"type": "INTEGER", "nullable": True}
    assert to_gemini_schema({"const": "x"}) == {"enum": ["x"]}


BAD_ANSWERS: dict[str, list[Any]] = {
    "openai": [
        chat_reply("not json at all"),
        chat_reply("[1, 2]"),
        chat_reply(""),
        {"choices": []},
        {"choices": [{"message": {"content": None, "refusal": "no"}}]},
    ],
    "anthropic": [
        {"content": [{"type": "text", "text": "I will not use tools"}]},
        {"content": [{"type": "tool_use", "input": "a string"}]},
        {"unexpected": True},
    ],
    "gemini": [
        {"candidates": []},
        {"candidates": [{"content": {"parts": [{"text": "{broken"}]}}]},
        {"promptFeedback": {"blockReason": "SAFETY"}},
    ],
}


@pytest.mark.parametrize(
    ("provider", "body"),
    [(provider, body) for provider, bodies in BAD_ANSWERS.items() for body in bodies],
)
async def test_unusable_answers_are_bad_responses(
    provider: str, body: Any, client_for: Build
) -> None:
    client, _ = client_for(lambda request: httpx.Response(200, json=body))
    async with client:
        with pytest.raises(base.ProviderBadResponse):
            await get_adapter(provider).complete_json(client, make_credentials(provider), REQUEST)


async def test_fenced_json_is_accepted(client_for: Build) -> None:
    fenced = "```json\n" + json.dumps(ANSWER) + "\n```"
    client, _ = client_for(lambda request: httpx.Response(200, json=chat_reply(fenced)))
    async with client:
        answer = await get_adapter("fireworks").complete_json(
            client, make_credentials("fireworks"), REQUEST
        )
    assert answer == ANSWER


async def test_non_json_body_is_a_bad_response(client_for: Build) -> None:
    client, _ = client_for(lambda request: httpx.Response(200, content=b"<html>oops</html>"))
    async with client:
        with pytest.raises(base.ProviderBadResponse):
            await get_adapter("anthropic").complete_json(
                client, make_credentials("anthropic"), REQUEST
            )


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (401, base.ProviderAuthError),
        (403, base.ProviderAuthError),
        (429, base.ProviderRateLimited),
        (503, base.ProviderUnavailable),
        (404, base.ProviderError),
    ],
)
@pytest.mark.parametrize("provider", ["openai", "anthropic", "gemini", "azure_openai"])
async def test_completion_failures_map_to_provider_errors(
    provider: str, status: int, error: type[base.ProviderError], client_for: Build
) -> None:
    body = {"error": {"message": f"model not found for key {SECRET}"}}
    client, _ = client_for(lambda request: httpx.Response(status, json=body))
    async with client:
        with pytest.raises(error) as caught:
            await get_adapter(provider).complete_json(client, make_credentials(provider), REQUEST)
    assert type(caught.value) is error
    assert caught.value.status_code == status
    assert SECRET not in str(caught.value)


async def test_request_timeout_is_honoured(client_for: Build) -> None:
    seen: list[Any] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.extensions["timeout"])
        raise httpx.ReadTimeout("slow", request=request)

    client, _ = client_for(handler)
    timed = base.StructuredRequest(model="m", system="s", user="u", schema={}, timeout=1.5)
    async with client:
        with pytest.raises(base.ProviderTimeout):
            await get_adapter("openai").complete_json(client, make_credentials("openai"), timed)
    assert seen == [{"connect": 1.5, "read": 1.5, "write": 1.5, "pool": 1.5}]


@pytest.mark.parametrize("provider", ["openai_compatible", "azure_openai"])
async def test_call_time_guard_blocks_private_urls(provider: str, client_for: Build) -> None:
    settings = make_settings(allow_private_provider_urls=False)
    credentials = credentials_for(
        settings,
        provider,
        SECRET,
        base_url="http://127.0.0.1:11434/v1",
        azure_endpoint="https://169.254.169.254",
    )
    assert credentials.public_only
    client, recorder = client_for(lambda request: httpx.Response(200, json={"data": []}))
    adapter = get_adapter(provider)
    async with client:
        with pytest.raises(base.ProviderURLNotAllowed):
            await adapter.list_models(client, credentials)
        check = await adapter.validate_key(client, credentials)
    assert check.state == base.KeyState.ERROR
    assert "not allowed" in (check.error_message or "")
    assert recorder.requests == []


def test_hosted_providers_are_not_guarded() -> None:
    # Operator-configured base URLs are trusted (tests point them at loopback).
    settings = make_settings(
        allow_private_provider_urls=False, openai_base_url="http://127.0.0.1:9/v1"
    )
    credentials = credentials_for(settings, "openai", SECRET)
    assert credentials.base_url == "http://127.0.0.1:9/v1"
    assert not credentials.public_only
    assert SECRET not in repr(credentials)
