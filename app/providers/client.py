"""The one shared outbound `httpx.AsyncClient` every provider call goes through, and the
guard that keeps user-supplied provider URLs off private networks (SSRF, SPEC §6): an explicit
list of denied ranges, and a transport that connects to the very address that was checked."""

from __future__ import annotations

import asyncio
import contextvars
import ipaddress
import socket
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

import httpcore
import httpx
from httpcore import SOCKET_OPTION

from app.settings import Settings


class ProviderClient(httpx.AsyncClient):
    """The shared client, carrying the bounds every provider call obeys (app/providers/wire.py):
    a deadline for the whole call, body included (httpx's own timeouts count per read, so a
    provider dripping a byte at a time would never trip them), and a cap on response bytes."""

    def __init__(self, *, call_timeout: float, max_response_bytes: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.call_timeout = call_timeout
        self.max_response_bytes = max_response_bytes


DEFAULT_MAX_RESPONSE_BYTES = 8 * 1024 * 1024


def call_limits(client: httpx.AsyncClient) -> tuple[float, int]:
    """(whole-call deadline in seconds, response byte cap) for calls through `client`."""
    if isinstance(client, ProviderClient):
        return client.call_timeout, client.max_response_bytes
    return client.timeout.read or 10.0, DEFAULT_MAX_RESPONSE_BYTES


def create_http_client(
    settings: Settings,
    transport: httpx.AsyncBaseTransport | None = None,
    *,
    keepalive: int = 20,
) -> ProviderClient:
    """Built in the app lifespan; tests pass a mock transport here. `keepalive`: idle
    connections kept (the experiment worker keeps one per call it may have in flight).

    Its pool is shared by all teams; the per-team cap (PROVIDER_CALLS_PER_TEAM, enforced by
    app/providers/limits.py) is at most a quarter of it (checked in Settings).
    """
    limits = httpx.Limits(
        max_connections=max(settings.provider_max_connections, keepalive),
        max_keepalive_connections=keepalive,
    )
    return ProviderClient(
        call_timeout=settings.provider_timeout_seconds,
        max_response_bytes=settings.provider_max_response_bytes,
        timeout=httpx.Timeout(settings.provider_timeout_seconds),
        limits=limits,
        transport=transport if transport is not None else PinningTransport(limits=limits),
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


# Every address range no user-supplied URL may reach, from IANA's IPv4 and IPv6 Special-Purpose
# Address Registries (plus multicast and a cloud platform address). An explicit list rather than
# `ipaddress`'s `is_global`/`is_private` flags, whose answers vary between Python releases
# (3.11 lets 192.0.0.192 and fec0::/10 through). Ranges the registries mark globally reachable
# (AS112, AMT, PCP anycast …) stay allowed. IPv4-mapped, NAT64 and 6to4 addresses are judged by
# the IPv4 address they carry (see `is_public_address`).
DENIED_NETWORKS: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = tuple(
    ipaddress.ip_network(network)
    for network in (
        # IPv4
        "0.0.0.0/8",  # "this network" (RFC 791)
        "10.0.0.0/8",  # private (RFC 1918)
        "100.64.0.0/10",  # shared address space, CGNAT (RFC 6598); hosts 100.100.100.200
        "127.0.0.0/8",  # loopback
        "169.254.0.0/16",  # link-local, cloud metadata 169.254.169.254
        "172.16.0.0/12",  # private
        "192.0.0.0/24",  # IETF protocol assignments (RFC 6890); hosts metadata 192.0.0.192
        "192.0.2.0/24",  # documentation TEST-NET-1
        "192.88.99.0/24",  # deprecated 6to4 relay anycast (RFC 7526)
        "192.168.0.0/16",  # private
        "198.18.0.0/15",  # benchmarking (RFC 2544)
        "198.51.100.0/24",  # documentation TEST-NET-2
        "203.0.113.0/24",  # documentation TEST-NET-3
        "224.0.0.0/4",  # multicast
        "240.0.0.0/4",  # reserved for future use, includes 255.255.255.255 (broadcast)
        "168.63.129.16/32",  # Azure's platform endpoint (WireServer): public, yet host-local
        # IPv6
        "::/96",  # unspecified ::, loopback ::1, deprecated IPv4-compatible (RFC 4291)
        "64:ff9b:1::/48",  # local-use IPv4/IPv6 translation (RFC 8215)
        "100::/64",  # discard-only (RFC 6666)
        "100:0:0:1::/64",  # dummy prefix (RFC 9780)
        "2001::/23",  # IETF protocol assignments: Teredo 2001::/32, benchmarking, ORCHID …
        "2001:db8::/32",  # documentation
        "3fff::/20",  # documentation (RFC 9637)
        "5f00::/16",  # segment routing SIDs (RFC 9602)
        "fc00::/7",  # unique local
        "fe80::/10",  # link-local
        "fec0::/10",  # deprecated site-local
        "ff00::/8",  # multicast
    )
)
# Globally reachable assignments inside a denied block (IANA marks them so).
_ALLOWED_INSIDE_DENIED = tuple(
    ipaddress.ip_network(network)
    for network in (
        "2001:1::1/128",  # PCP anycast
        "2001:1::2/128",  # TURN anycast
        "2001:1::3/128",  # DNS-SD service discovery
        "2001:3::/32",  # AMT
        "2001:4:112::/48",  # AS112-v6
        "2001:20::/28",  # ORCHIDv2
        "2001:30::/28",  # drone remote ID
    )
)
_IPV4_MAPPED = ipaddress.ip_network("::ffff:0:0/96")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")  # RFC 6052 well-known prefix
_SIX_TO_FOUR = ipaddress.ip_network("2002::/16")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 host an IPv6 address really reaches (mapped, NAT64, 6to4), or None."""
    value = int(address)
    if address in _IPV4_MAPPED or address in _NAT64:
        return ipaddress.IPv4Address(value & 0xFFFFFFFF)
    if address in _SIX_TO_FOUR:
        return ipaddress.IPv4Address((value >> 80) & 0xFFFFFFFF)
    return None


def is_public_address(address: IPAddress) -> bool:
    """False for any address in `DENIED_NETWORKS`, judging IPv4-in-IPv6 forms by their IPv4."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            return is_public_address(embedded)
    if any(address in network for network in _ALLOWED_INSIDE_DENIED):
        return True
    return not any(address in network for network in DENIED_NETWORKS)


async def ensure_public_url(url: str) -> tuple[IPAddress, ...]:
    """Refuse URLs whose host is, or resolves to, a non-public address (loopback, private,
    link-local, metadata, reserved); returns the addresses that passed, for `PIN_EXTENSION`.
    Resolution uses the event loop's resolver, off-thread."""
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
    if not addresses or not all(is_public_address(address) for address in addresses):
        raise UnsafeURLError(
            "This URL points to a private, loopback, link-local or metadata address, "
            "which is not allowed."
        )
    return tuple(dict.fromkeys(addresses))


# --- connecting to the checked address (no second resolution) ---------------------------------

# A request extension: `{PIN_EXTENSION: (host, (address, …))}` makes the shared client's
# transport connect to those addresses only, never resolving `host` again, so DNS cannot
# answer differently between the check and the connection (rebinding). TLS still verifies the
# certificate against `host` (httpcore passes it as server_hostname/SNI).
PIN_EXTENSION = "llma_pinned_addresses"
_pins: contextvars.ContextVar[tuple[str, tuple[str, ...]] | None] = contextvars.ContextVar(
    "llma_pins", default=None
)


class _PinnedBackend(httpcore.AsyncNetworkBackend):
    """Opens TCP connections like httpcore's own backend, but to the pinned addresses while a
    pinned request is being sent (it runs in that request's task, so a context variable
    carries the pin from the transport to here)."""

    def __init__(self) -> None:
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore names the parameter
        local_address: str | None = None,
        socket_options: Iterable[SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        pin = _pins.get()
        if pin is None:
            return await self._inner.connect_tcp(host, port, timeout, local_address, socket_options)
        pinned_host, addresses = pin
        if host.lower() != pinned_host:
            raise httpcore.ConnectError("Refusing to connect to a host that was not checked.")
        error: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    address, port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                error = exc
        raise error or httpcore.ConnectError("No checked address to connect to.")

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore names the parameter
        socket_options: Iterable[SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("Unix sockets are not used for provider calls.")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class PinningTransport(httpx.AsyncHTTPTransport):
    """httpx's own transport whose connection pool uses `_PinnedBackend`; requests without the
    pin extension (hosted providers, whose URLs the operator set) behave exactly as before."""

    def __init__(self, *, limits: httpx.Limits) -> None:
        super().__init__(limits=limits)
        # httpx offers no public way to pass a network backend, so the pool it built is
        # replaced by an identical one that has ours.
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=_PinnedBackend(),
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        pin = request.extensions.get(PIN_EXTENSION)
        token = _pins.set(pin) if pin is not None else None
        try:
            return await super().handle_async_request(request)
        finally:
            if token is not None:
                _pins.reset(token)


def pin_extension(url: str, addresses: tuple[IPAddress, ...]) -> dict[str, Any]:
    """The request extension that pins `url`'s host to the addresses `ensure_public_url` checked."""
    # The host exactly as httpcore will name it to the backend (IDNA-encoded, lower case).
    host = httpx.URL(url).raw_host.decode("ascii").lower()
    return {PIN_EXTENSION: (host, tuple(str(address) for address in addresses))}
