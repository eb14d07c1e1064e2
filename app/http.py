"""The one shared outbound `httpx.AsyncClient` every provider call goes through, and the
guard that keeps user-supplied provider URLs off private networks (SSRF, SPEC §6)."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

import httpx

from app.settings import Settings


def create_http_client(
    settings: Settings,
    transport: httpx.AsyncBaseTransport | None = None,
    *,
    keepalive: int = 20,
) -> httpx.AsyncClient:
    """Built in the app lifespan; tests pass a mock transport here. `keepalive`: idle
    connections kept (the experiment worker keeps one per call it may have in flight)."""
    return httpx.AsyncClient(
        timeout=httpx.Timeout(settings.provider_timeout_seconds),
        limits=httpx.Limits(
            max_connections=max(100, keepalive), max_keepalive_connections=keepalive
        ),
        transport=transport,
        follow_redirects=False,
        headers={"user-agent": "llma/0.1"},
    )


# --- the public-URL (SSRF) guard --------------------------------------------------------------

# Hosts that answer cloud metadata requests under a name rather than an address.
_METADATA_HOSTS = frozenset(
    {"metadata", "metadata.google.internal", "metadata.goog", "instance-data", "instance-data.ec2"}
)


class UnsafeURLError(ValueError):
    """A user-supplied provider URL that must not be called; the message is safe to show."""


def check_url_syntax(url: str) -> str:
    """The URL's host, after checking the scheme is http(s) and there is a host at all."""
    try:
        parsed = urlsplit(url)
        parsed.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        raise UnsafeURLError("Enter a valid URL.") from None
    if parsed.scheme not in ("http", "https"):
        raise UnsafeURLError("Only http and https URLs are allowed.")
    if not parsed.hostname:
        raise UnsafeURLError("Enter a valid URL.")
    if parsed.username is not None or parsed.password is not None:
        raise UnsafeURLError("URLs with credentials are not allowed.")
    return parsed.hostname


def _is_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address):
        # ::ffff:10.0.0.1 and 2002:a00:1:: reach IPv4 hosts: judge the embedded address.
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is not None:
            return _is_public(embedded)
    return address.is_global and not (
        address.is_loopback
        or address.is_private
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
    )


async def ensure_public_url(url: str) -> None:
    """Refuse URLs whose host is, or resolves to, a non-public address (loopback, private,
    link-local, metadata, reserved). Resolution uses the event loop's resolver, off-thread.

    The check and the later connection resolve separately (DNS rebinding could slip between
    them); pinning the address would break TLS host checks, and the window is small.
    """
    host = check_url_syntax(url)
    if host.lower().rstrip(".") in _METADATA_HOSTS:
        raise UnsafeURLError("This host is not allowed.")
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        addresses = [literal]
    else:
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(host, None, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError):
            raise UnsafeURLError(f"Could not resolve host '{host}'.") from None
        addresses = [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]
    if not addresses or not all(_is_public(address) for address in addresses):
        raise UnsafeURLError(
            "This URL points to a private, loopback, link-local or metadata address, "
            "which is not allowed."
        )
