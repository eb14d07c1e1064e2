"""The public-URL (SSRF) guard on its own: schemes, literal addresses, names, resolution."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest

from app.http import UnsafeURLError, check_url_syntax, ensure_public_url


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/v1",
        "http://10.1.2.3/v1",
        "http://172.16.0.1",
        "http://192.168.1.10",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]:8000",
        "http://[::ffff:10.0.0.1]/",
        "http://[fe80::1]/",
        "http://0.0.0.0/",
        "http://100.64.0.1/",
        "http://224.0.0.1/",
        "http://localhost:11434/v1",
        "http://metadata.google.internal/computeMetadata/v1",
    ],
)
async def test_non_public_addresses_are_refused(url: str) -> None:
    with pytest.raises(UnsafeURLError):
        await ensure_public_url(url)


@pytest.mark.parametrize("url", ["http://8.8.8.8/v1", "https://[2001:4860:4860::8888]/"])
async def test_public_literals_pass(url: str) -> None:
    await ensure_public_url(url)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://example.com", "Only http and https URLs are allowed."),
        ("file:///etc/passwd", "Only http and https URLs are allowed."),
        ("not a url", "Only http and https URLs are allowed."),
        ("http://", "Enter a valid URL."),
        ("http://user:pw@example.com", "URLs with credentials are not allowed."),
        ("http://example.com:99999", "Enter a valid URL."),
    ],
)
def test_syntax(url: str, message: str) -> None:
    with pytest.raises(UnsafeURLError) as caught:
        check_url_syntax(url)
    assert str(caught.value) == message


async def test_unresolvable_host_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    # The event loop's resolver is faked so the test makes no DNS query at all.
    async def no_such_host(*args: Any, **kwargs: Any) -> Any:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", no_such_host)
    with pytest.raises(UnsafeURLError, match=r"Could not resolve host 'gateway\.example'"):
        await ensure_public_url("http://gateway.example/v1")


async def test_a_name_is_refused_when_any_address_is_private(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def mixed(*args: Any, **kwargs: Any) -> Any:
        stream = socket.SOCK_STREAM
        return [
            (socket.AF_INET, stream, 6, "", ("93.184.215.14", 0)),
            (socket.AF_INET, stream, 6, "", ("10.0.0.7", 0)),
        ]

    monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", mixed)
    with pytest.raises(UnsafeURLError, match="private"):
        await ensure_public_url("https://rebind.example/v1")
