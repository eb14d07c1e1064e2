"""The SSRF guard on user-supplied URLs, with ALLOW_PRIVATE_PROVIDER_URLS=false: on create,
update, key validations, and again at call time. DNS is faked on the event loop."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import LLMProviderKey
from app.settings import Settings
from tests.factories import Identity
from tests.provider_keys.conftest import FakeProviders, base_path, create_key


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"allow_private_provider_urls": False})


class Resolver:
    """Host → addresses, installed as the running loop's getaddrinfo (no real DNS query)."""

    def __init__(self) -> None:
        self.hosts: dict[str, list[str]] = {}

    async def __call__(self, host: str, port: Any, *args: Any, **kwargs: Any) -> Any:
        addresses = self.hosts.get(host)
        if addresses is None:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, 0)) for a in addresses]


@pytest.fixture
async def resolver(monkeypatch: pytest.MonkeyPatch) -> Resolver:
    fake = Resolver()
    fake.hosts["localhost"] = ["127.0.0.1"]
    monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", fake)
    return fake


async def key_count(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(LLMProviderKey)) or 0)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:11434/v1",
        "http://10.0.0.5/v1",
        "http://169.254.169.254/latest",
        "http://localhost:8000/v1",
        "http://[::1]/v1",
        "http://metadata.google.internal/v1",
        "http://unresolvable.example/v1",
    ],
)
async def test_private_base_urls_are_refused_on_create(
    api: httpx.AsyncClient,
    identity: Identity,
    session: AsyncSession,
    fake: FakeProviders,
    resolver: Resolver,
    url: str,
) -> None:
    base = base_path(identity.team.id)
    body = {"provider": "openai_compatible", "name": "local", "api_key": "x", "base_url": url}
    response = await api.post(f"{base}/provider_keys/", json=body)
    assert response.status_code == 400, response.text
    assert response.json()["attr"] == "base_url"
    check = await api.post(f"{base}/provider_key_validations/", json=body)
    assert (check.status_code, check.json()["attr"]) == (400, "base_url")
    assert fake.requests == []
    assert await key_count(session) == 0


@pytest.mark.parametrize(
    ("endpoint", "detail"),
    [
        ("https://evil.example.com", "Enter your Azure OpenAI endpoint"),
        ("http://res.openai.azure.com", "Enter your Azure OpenAI endpoint"),
        ("https://10.0.0.1", "Enter your Azure OpenAI endpoint"),
        ("https://inside.openai.azure.com", "private"),
    ],
)
async def test_azure_host_rule(
    api: httpx.AsyncClient,
    identity: Identity,
    fake: FakeProviders,
    resolver: Resolver,
    endpoint: str,
    detail: str,
) -> None:
    resolver.hosts["inside.openai.azure.com"] = ["10.1.2.3"]
    response = await api.post(
        f"{base_path(identity.team.id)}/provider_keys/",
        json={
            "provider": "azure_openai",
            "name": "a",
            "api_key": "k" * 20,
            "azure_endpoint": endpoint,
        },
    )
    assert response.status_code == 400, response.text
    assert response.json()["attr"] == "azure_endpoint"
    assert detail in response.json()["detail"]
    assert fake.requests == []


async def test_public_endpoints_pass_and_are_rechecked_at_call_time(
    api: httpx.AsyncClient, identity: Identity, fake: FakeProviders, resolver: Resolver
) -> None:
    resolver.hosts["res.openai.azure.com"] = ["20.1.2.3"]
    resolver.hosts["gateway.example.com"] = ["93.184.215.14"]
    azure = await create_key(
        api,
        identity.team.id,
        provider="azure_openai",
        api_key="a" * 20,
        azure_endpoint="https://res.openai.azure.com",
    )
    local = await create_key(
        api,
        identity.team.id,
        provider="openai_compatible",
        api_key="b" * 20,
        base_url="https://gateway.example.com/v1",
    )
    assert len(fake.requests) == 2
    base = base_path(identity.team.id)

    # DNS now points both names inside: no request leaves, the key reads as error.
    resolver.hosts["res.openai.azure.com"] = ["169.254.169.254"]
    resolver.hosts["gateway.example.com"] = ["127.0.0.1"]
    validated = await api.post(f"{base}/provider_keys/{azure['id']}/validate/")
    assert validated.json()["state"] == "error"
    assert "not allowed" in validated.json()["error_message"]
    models = await api.get(f"{base}/models/?provider=openai_compatible&key_id={local['id']}")
    assert (models.status_code, models.json()["attr"]) == (400, "key_id")
    assert len(fake.requests) == 2

    # Moving a key to a private endpoint by PATCH is refused and changes nothing.
    url = f"{base}/provider_keys/{local['id']}/"
    patched = await api.patch(url, json={"base_url": "http://10.9.8.7/v1"})
    assert (patched.status_code, patched.json()["attr"]) == (400, "base_url")
    assert (await api.get(url)).json()["base_url"] == "https://gateway.example.com/v1"
