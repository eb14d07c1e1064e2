"""The shared client connects to the address the SSRF guard checked: no second DNS lookup, so a
name that answers a public address at check time and loopback a moment later (DNS rebinding)
still only reaches the checked address. DNS is faked on the event loop; the connection attempts
are recorded on the loop too (public addresses are refused there, the machine has no network)."""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import socket
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from app.http import create_http_client, pin_extension
from app.settings import Settings
from tests.factories import Identity
from tests.fakes.capture_server import CaptureServer, capture_server

PUBLIC = "93.184.215.14"


class Network:
    """The running loop's resolver and connector, faked: `answers` per host (consumed in order,
    the last one repeats); connections to loopback go through, others fail as unreachable."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.answers: dict[str, list[str]] = {}
        self.lookups: list[str] = []
        self.connects: list[str] = []
        self._create_connection = loop.create_connection

    async def getaddrinfo(self, host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else str(host)
        self.lookups.append(name)
        answers = self.answers.get(name)
        if not answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        address = answers.pop(0) if len(answers) > 1 else answers[0]
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port or 0))]

    async def create_connection(self, factory: Any, host: Any = None, *a: Any, **kw: Any) -> Any:
        self.connects.append(str(host))
        if not ipaddress.ip_address(host).is_loopback:
            raise OSError(errno.ENETUNREACH, "Network is unreachable")
        return await self._create_connection(factory, host, *a, **kw)


@pytest.fixture
async def network(monkeypatch: pytest.MonkeyPatch) -> Network:
    loop = asyncio.get_running_loop()
    fake = Network(loop)
    monkeypatch.setattr(loop, "getaddrinfo", fake.getaddrinfo)
    monkeypatch.setattr(loop, "create_connection", fake.create_connection)
    return fake


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"allow_private_provider_urls": False})


@pytest.fixture
def provider_transport() -> Any:
    return None  # the shared client's own transport, as in production


@pytest.fixture
async def capture() -> AsyncIterator[CaptureServer]:
    async with capture_server() as server:
        yield server


async def test_a_rebinding_name_only_reaches_the_checked_address(
    api: httpx.AsyncClient, identity: Identity, network: Network, capture: CaptureServer
) -> None:
    # Public for the two checks (input validation, then the call-time guard), loopback after.
    network.answers["rebind.example"] = [PUBLIC, PUBLIC, "127.0.0.1"]
    base = f"/api/environments/{identity.team.id}/llm_analytics"
    response = await api.post(
        f"{base}/provider_key_validations/",
        json={
            "provider": "openai_compatible",
            "api_key": "rebind-secret-123",
            "base_url": f"http://rebind.example:{capture.port}/v1",
        },
    )
    assert response.status_code == 201, response.text
    assert response.json()["state"] == "error"
    assert capture.seen == []
    assert network.connects == [PUBLIC]
    assert network.lookups == ["rebind.example", "rebind.example"]


async def test_a_pinned_request_never_resolves_the_name(
    settings: Settings, network: Network, capture: CaptureServer
) -> None:
    # No answer for the name at all: only the pin can take the request to the server.
    url = f"http://pinned.example:{capture.port}/v1/models"
    client = create_http_client(settings)
    try:
        pinned = pin_extension(url, (ipaddress.ip_address("127.0.0.1"),))
        response = await client.get(url, extensions=pinned)
        unpinned_error: Exception | None = None
        try:
            await client.get(url)
        except httpx.ConnectError as exc:
            unpinned_error = exc
    finally:
        await client.aclose()
    assert response.status_code == 200
    assert len(capture.seen) == 1
    assert capture.seen[0][0] == "GET /v1/models HTTP/1.1"
    assert network.connects == ["127.0.0.1"]
    assert network.lookups == ["pinned.example"]  # only the unpinned request looked it up
    assert unpinned_error is not None


async def test_a_pin_covers_only_its_own_host(settings: Settings, network: Network) -> None:
    client = create_http_client(settings)
    try:
        pinned = pin_extension("http://checked.example/v1", (ipaddress.ip_address("127.0.0.1"),))
        with pytest.raises(httpx.ConnectError):
            await client.get("http://other.example:9/v1/models", extensions=pinned)
    finally:
        await client.aclose()
    assert network.connects == []
    assert network.lookups == []
