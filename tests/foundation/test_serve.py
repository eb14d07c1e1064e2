"""`llma serve` — the container's start command — run for real on a free loopback port."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import urlsplit

import httpx
from cryptography.fernet import Fernet

from tests import database


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@asynccontextmanager
async def serving(database_url: str, **env: str) -> AsyncIterator[tuple[str, list[str]]]:
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
        env={**os.environ, "DATABASE_URL": database_url, "LOG_FORMAT": "json", **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=base) as client:
            for _ in range(150):
                if process.poll() is not None:
                    raise AssertionError(f"llma serve exited with {process.returncode}")
                try:
                    if (await client.get("/healthz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.2)
            else:
                raise AssertionError("llma serve did not become healthy")
        yield base, []
    finally:
        process.send_signal(signal.SIGINT)
        try:
            out, _ = process.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            out, _ = process.communicate()
        serving.last_stdout = out  # type: ignore[attr-defined]


async def test_first_start_prints_a_working_demo_key(server_url: str) -> None:
    url = await database.create_database(server_url, prefix="llma_serve")
    try:
        async with serving(
            url, APP_ENV="development", ENCRYPTION_KEYS=Fernet.generate_key().decode()
        ) as (base, _):
            async with httpx.AsyncClient(base_url=base) as client:
                assert (await client.get("/readyz")).status_code == 200
                docs = await client.get("/docs")
                assert docs.status_code == 200
        out = serving.last_stdout  # type: ignore[attr-defined]
        keys = re.findall(r"phx_[A-Za-z0-9_\-]{40,}", out)
        assert keys, out
        curl = re.search(r"curl -H \"Authorization: Bearer (phx_\S+)\" (\S+)", out)
        assert curl is not None
        # The printed curl line works against a running server.
        async with serving(
            url, APP_ENV="development", ENCRYPTION_KEYS=Fernet.generate_key().decode()
        ) as (base, _):
            target = base + urlsplit(curl.group(2)).path
            async with httpx.AsyncClient() as client:
                response = await client.get(target, headers={"Authorization": f"Bearer {keys[0]}"})
            assert response.status_code == 200, response.text
        # A second start on the same database prints no new key.
        assert "phx_" not in serving.last_stdout  # type: ignore[attr-defined]
    finally:
        await database.drop_database(server_url, url)
