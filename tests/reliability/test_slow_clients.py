"""Slow and idle clients cannot hold `llma serve`'s connections (issue 18, item 3).

A real server with short limits; raw sockets play the clients: one dripping its request head a
byte at a time, one opening a socket and saying nothing, one idling after a kept-alive answer,
and a crowd past SERVER_LIMIT_CONCURRENCY.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.reliability.harness import Service, serving

pytestmark = pytest.mark.reliability

HEAD_TIMEOUT = 1.5
KEEP_ALIVE = 1
LIMIT = 4
SLACK = 1.0  # event-loop and scheduling delay on a loaded machine


@pytest.fixture(scope="module")
async def service(database_url: str) -> AsyncIterator[Service]:
    env = {
        "SERVER_HEADER_TIMEOUT_SECONDS": str(HEAD_TIMEOUT),
        "SERVER_KEEP_ALIVE_SECONDS": str(KEEP_ALIVE),
        "SERVER_LIMIT_CONCURRENCY": str(LIMIT),
    }
    with tempfile.TemporaryDirectory(prefix="llma-slow-clients-") as logs:
        async with serving(database_url, Path(logs), **env) as served:
            yield served
            assert "Traceback" not in served.log()


async def _connect(service: Service) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    address = urlsplit(service.base)
    assert address.hostname is not None
    assert address.port is not None
    return await asyncio.open_connection(address.hostname, address.port)


async def _closed_after(reader: asyncio.StreamReader, give_up: float) -> float:
    """Seconds until the server closes the connection (reads until EOF), or `give_up`."""
    started = time.monotonic()
    with contextlib.suppress(TimeoutError, ConnectionError):
        async with asyncio.timeout(give_up):
            while await reader.read(65536):
                pass
    return time.monotonic() - started


async def test_a_client_dripping_its_request_head_is_disconnected(service: Service) -> None:
    reader, writer = await _connect(service)

    async def drip() -> None:
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        with contextlib.suppress(ConnectionError):
            while not writer.is_closing():
                writer.write(b"a")
                await writer.drain()
                await asyncio.sleep(0.2)

    dripping = asyncio.create_task(drip())
    try:
        closed = await _closed_after(reader, HEAD_TIMEOUT + 10)
    finally:
        dripping.cancel()
        writer.close()
    assert HEAD_TIMEOUT - 0.2 < closed < HEAD_TIMEOUT + SLACK


async def test_a_silent_connection_is_closed(service: Service) -> None:
    reader, writer = await _connect(service)
    try:
        closed = await _closed_after(reader, HEAD_TIMEOUT + 10)
    finally:
        writer.close()
    assert closed < HEAD_TIMEOUT + SLACK


async def test_an_idle_kept_alive_connection_is_closed(service: Service) -> None:
    reader, writer = await _connect(service)
    try:
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=5)
        assert head.startswith(b"HTTP/1.1 200"), head
        closed = await _closed_after(reader, KEEP_ALIVE + 10)
    finally:
        writer.close()
    assert closed < KEEP_ALIVE + SLACK


async def test_connections_past_the_limit_are_refused_with_503(service: Service) -> None:
    idle = [await _connect(service) for _ in range(LIMIT)]
    try:
        async with httpx.AsyncClient(base_url=service.base, timeout=5) as client:
            crowded = await client.get("/healthz")
    finally:
        for _, writer in idle:
            writer.close()
    await asyncio.sleep(HEAD_TIMEOUT + 0.5)  # the idle sockets are gone, by the head timeout
    async with httpx.AsyncClient(base_url=service.base, timeout=5) as client:
        relieved = await client.get("/healthz")
    assert crowded.status_code == 503
    assert relieved.status_code == 200
