"""A tiny HTTP server on loopback that records the credentials every request carried.

It answers every path like an OpenAI-style model list, so a key sent to it validates: tests use
it as "the host a stored secret must never reach" and check what it saw.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

CREDENTIAL_HEADERS = ("authorization", "api-key", "x-api-key", "x-goog-api-key")
_BODY = json.dumps({"object": "list", "data": [{"id": "captured-model"}]}).encode()


@dataclass
class CaptureServer:
    host: str = "127.0.0.1"
    port: int = 0
    # One entry per request: (request line, {credential header: value}).
    seen: list[tuple[str, dict[str, str]]] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    def credentials(self) -> list[str]:
        return [value for _, headers in self.seen for value in headers.values()]

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            headers: dict[str, str] = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            length = int(headers.get("content-length") or 0)
            if length:
                await reader.readexactly(length)
            self.seen.append(
                (lines[0], {k: v for k, v in headers.items() if k in CREDENTIAL_HEADERS})
            )
            writer.write(
                b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                + f"content-length: {len(_BODY)}\r\nconnection: close\r\n\r\n".encode()
                + _BODY
            )
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


@asynccontextmanager
async def capture_server(host: str = "127.0.0.1") -> AsyncIterator[CaptureServer]:
    """A CaptureServer listening on a free port of `host` until the block ends."""
    capture = CaptureServer(host=host)
    server = await asyncio.start_server(capture._handle, host, 0)
    capture.port = server.sockets[0].getsockname()[1]
    try:
        yield capture
    finally:
        server.close()
        await server.wait_closed()
