"""`llma serve` — the container's start command — run for real on a free loopback port."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sys
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx
from cryptography.fernet import Fernet

from app.settings import Settings
from tests import database
from tests.reliability.harness import free_port


@dataclass
class Served:
    base: str
    stdout: str = ""
    stderr: str = ""


@asynccontextmanager
async def serving(database_url: str, **env: str | None) -> AsyncIterator[Served]:
    """`llma serve` on a free port; an env value of None removes that variable."""
    port = free_port()
    merged = {**os.environ, "DATABASE_URL": database_url, "LOG_FORMAT": "json", **env}
    # stderr goes to a file, not a pipe: nobody reads it while the server runs.
    with tempfile.TemporaryFile() as stderr:
        process = await asyncio.create_subprocess_exec(
            *[sys.executable, "-m", "app.cli", "serve", "--host", "127.0.0.1"],
            *["--port", str(port)],
            env={name: value for name, value in merged.items() if value is not None},
            stdout=asyncio.subprocess.PIPE,
            stderr=stderr,
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
            stderr.seek(0)
            served.stderr = stderr.read().decode()


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


async def test_logs_one_access_line_per_request_without_colour_codes(database_url: str) -> None:
    env = {"APP_ENV": "development", "ENCRYPTION_KEYS": Fernet.generate_key().decode()}
    async with (
        serving(database_url, **env) as served,
        httpx.AsyncClient(base_url=served.base) as client,
    ):
        assert (await client.get("/readyz?probe=1")).status_code == 200
    records = [json.loads(line) for line in served.stderr.splitlines()]
    assert records, "llma serve logged nothing"
    for record in records:
        assert "color_message" not in record
        assert "\x1b" not in json.dumps(record, ensure_ascii=False)
    access = [r for r in records if r["logger"] == "app.access" and "/readyz" in r["message"]]
    assert len(access) == 1
    assert access[0]["message"].startswith("GET /readyz 200 ")
    assert access[0]["status"] == 200
    assert access[0]["duration_ms"] >= 0
    assert not [r for r in records if r["logger"].startswith(("uvicorn.access", "alembic"))]


async def test_development_logs_are_readable_text(database_url: str) -> None:
    env = {
        "APP_ENV": "development",
        "ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "LOG_FORMAT": None,
    }
    async with (
        serving(database_url, **env) as served,
        httpx.AsyncClient(base_url=served.base) as client,
    ):
        assert (await client.get("/healthz")).status_code == 200
    lines = served.stderr.splitlines()
    assert any(" INFO    app.access [" in line and "GET /healthz 200" in line for line in lines)
    assert not any(line.startswith("{") for line in lines)


def test_log_format_default_follows_app_env() -> None:
    assert Settings(_env_file=None).log_format == "console"  # type: ignore[call-arg]
    production = Settings(_env_file=None, app_env="production")  # type: ignore[call-arg]
    assert production.log_format == "json"
    chosen = Settings(_env_file=None, app_env="production", log_format="console")  # type: ignore[call-arg]
    assert chosen.log_format == "console"
