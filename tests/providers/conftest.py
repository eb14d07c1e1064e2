"""Adapter tests: each provider behind an httpx.MockTransport that answers one scripted way."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from app.providers.base import Credentials
from app.providers.registry import credentials_for
from app.settings import Settings

SECRET = "sk-ant-proj-PLANTED-test-secret-1234"
ALL_PROVIDERS = (
    "openai",
    "anthropic",
    "gemini",
    "openrouter",
    "fireworks",
    "together_ai",
    "azure_openai",
    "openai_compatible",
)
Handler = Callable[[httpx.Request], httpx.Response]


def make_settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {"allow_private_provider_urls": True, "encryption_keys": None}
    values.update(overrides)
    return Settings(_env_file=None, **values)


def make_credentials(provider: str, settings: Settings | None = None) -> Credentials:
    return credentials_for(
        settings or make_settings(),
        provider,
        SECRET,
        base_url="http://llm.example.test:8000/v1",
        azure_endpoint="https://res.openai.azure.com",
        api_version="2024-10-21",
    )


class Recorder:
    """Wraps a handler and keeps the requests it saw."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.handler(request)


@pytest.fixture
def client_for() -> Callable[[Handler], tuple[httpx.AsyncClient, Recorder]]:
    clients: list[httpx.AsyncClient] = []

    def build(handler: Handler) -> tuple[httpx.AsyncClient, Recorder]:
        recorder = Recorder(handler)
        client = httpx.AsyncClient(transport=httpx.MockTransport(recorder), timeout=5)
        clients.append(client)
        return client, recorder

    return build
