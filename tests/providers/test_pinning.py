"""The shared client connects to the address the SSRF guard checked: no second DNS lookup, so a
name that answers a public address at check time and loopback a moment later (DNS rebinding)
still only reaches the checked address. DNS is faked on the event loop; the connection attempts
are recorded on the loop too (public addresses are refused there, the machine has no network)."""

from __future__ import annotations

import asyncio
import datetime
import errno
import ipaddress
import socket
import ssl
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from app.providers.client import create_http_client, pin_extension
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


def _self_signed(tmp_path: Any) -> tuple[str, str]:
    """A throwaway certificate for `pinned.example`, signed by nobody the client trusts."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pinned.example")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("pinned.example")]), False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return str(cert_path), str(key_path)


async def test_tls_to_a_pinned_address_verifies_the_url_host(
    settings: Settings, network: Network, tmp_path: Any
) -> None:
    # The TLS server on 127.0.0.1 records the name the client asked for (SNI). The client must
    # ask for the URL's host, not the pinned address, and must still verify the certificate:
    # this one is self-signed, so the handshake is refused rather than silently accepted.
    cert, key = _self_signed(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    names: list[str | None] = []
    context.sni_callback = lambda sock, name, ctx: names.append(name)  # type: ignore[assignment]

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0, ssl=context)
    port = server.sockets[0].getsockname()[1]
    url = f"https://pinned.example:{port}/v1/models"
    pinned = pin_extension(url, (ipaddress.ip_address("127.0.0.1"),))
    client = create_http_client(settings)
    try:
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            await client.get(url, extensions=pinned)
    finally:
        await client.aclose()
        server.close()
        await server.wait_closed()
    assert names == ["pinned.example"]
    assert network.connects == ["127.0.0.1"]
    assert network.lookups == []
