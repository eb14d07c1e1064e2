"""The public-URL (SSRF) guard on its own: schemes, literal addresses, names, resolution."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from typing import Any

import pytest

from app.providers.client import (
    UnsafeURLError,
    check_url_syntax,
    ensure_public_url,
    is_public_address,
)


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


DENIED = [
    # IPv4 special-purpose registry, multicast, broadcast, metadata
    "0.1.2.3",
    "10.0.0.1",
    "100.64.0.1",
    "100.100.100.200",
    "100.127.255.255",
    "127.0.0.1",
    "169.254.169.254",
    "172.31.255.255",
    "192.0.0.1",
    "192.0.0.192",
    "192.0.2.10",
    "192.88.99.1",
    "192.168.0.1",
    "198.18.0.1",
    "198.19.255.255",
    "198.51.100.7",
    "203.0.113.9",
    "224.0.0.1",
    "239.255.255.250",
    "240.0.0.1",
    "255.255.255.255",
    "168.63.129.16",
    # IPv6
    "::",
    "::1",
    "::10.0.0.1",
    "::ffff:10.0.0.1",
    "::ffff:169.254.169.254",
    "::ffff:192.0.0.192",
    "64:ff9b::a9fe:a9fe",
    "64:ff9b::7f00:1",
    "64:ff9b:1::808:808",
    "100::1",
    "2001::1",
    "2001:0:4136:e378:8000:63bf:3fff:fdd2",
    "2001:2::1",
    "2001:db8::1",
    "2002:7f00:1::",
    "2002:a9fe:a9fe::1",
    "3fff::1",
    "5f00::1",
    "fc00::1",
    "fd00:ec2::254",
    "fe80::1",
    "fec0::1",
    "ff02::1",
]
ALLOWED = [
    "1.1.1.1",
    "8.8.8.8",
    "93.184.215.14",
    "100.63.255.255",
    "100.128.0.1",
    "172.32.0.1",
    "192.0.1.1",
    "192.31.196.1",
    "198.17.255.255",
    "198.20.0.1",
    "223.255.255.254",
    "2001:4860:4860::8888",
    "2606:4700:4700::1111",
    "2001:4:112::1",
    "::ffff:8.8.8.8",
    "64:ff9b::808:808",
    "2002:808:808::1",
]


@pytest.mark.parametrize("address", DENIED)
async def test_special_purpose_addresses_are_denied(address: str) -> None:
    assert not is_public_address(ipaddress.ip_address(address))
    host = f"[{address}]" if ":" in address else address
    with pytest.raises(UnsafeURLError):
        await ensure_public_url(f"https://{host}/v1")


@pytest.mark.parametrize("address", ALLOWED)
async def test_public_addresses_are_allowed(address: str) -> None:
    assert is_public_address(ipaddress.ip_address(address))
    host = f"[{address}]" if ":" in address else address
    assert await ensure_public_url(f"https://{host}/v1") == (ipaddress.ip_address(address),)
