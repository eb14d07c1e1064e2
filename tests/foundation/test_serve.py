"""`llma serve` — the container's start command — run for real on a free loopback port."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx
from cryptography.fernet import Fernet

from tests import database
from tests.reliability.harness import free_port


@dataclass
class Served:
    base: str
    stdout: str = ""


@asynccontextmanager
async def serving(database_url: str, **env: str) -> AsyncIterator[Served]:
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        *[sys.executable, "-m", "app.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
        env={**os.environ, "DATABASE_URL": database_url, "LOG_FORMAT": "json", **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    served = Served(base=f"http://127.0.0.1:{port}")
    try:
        async with httpx.AsyncClient(base_url=served.base) as client:
            for _ in range(150):
                if process.returncode is not None:
                    raise AssertionError(f"llma serve exited with {process.returncode}")
                try:
                    if (await client.get("/healthz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.2)
            else:
                raise AssertionError("llma serve did not become healthy")
        yield served
    finally:
        process.send_signal(signal.SIGINT)
        try:
            out, _ = await asyncio.wait_for(process.communicate(), timeout=20)
        except TimeoutError:
            process.kill()
            out, _ = await process.communicate()
        served.stdout = out.decode()


async def test_first_start_prints_a_working_demo_key(server_url: str) -> None:
    url = await database.create_database(server_url, prefix="llma_serve")
    env = {"APP_ENV": "development", "ENCRYPTION_KEYS": Fernet.generate_key().decode()}
    try:
        async with serving(url, **env) as first, httpx.AsyncClient(base_url=first.base) as client:
            assert (await client.get("/readyz")).status_code == 200
            assert (await client.get("/docs")).status_code == 200
        curl = re.search(r"curl -H \"Authorization: Bearer (phx_[\w\-]{40,})\" (\S+)", first.stdout)
        assert curl is not None, first.stdout
        key, printed_url = curl.group(1), curl.group(2)

        # The printed curl line works against the running server; no new key on a second start.
        async with serving(url, **env) as second:
            async with httpx.AsyncClient(base_url=second.base) as client:
                response = await client.get(
                    urlsplit(printed_url).path, headers={"Authorization": f"Bearer {key}"}
                )
            assert response.status_code == 200, response.text
        assert "phx_" not in second.stdout
    finally:
        await database.drop_database(server_url, url)
