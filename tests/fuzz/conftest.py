"""A real server on loopback (own database, fake provider) for schema-driven fuzzing."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from cryptography.fernet import Fernet

from tests import database


@dataclass(frozen=True)
class LiveServer:
    base_url: str
    team_id: int
    api_key: str
    provider_url: str


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_until_up(url: str, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url} exited with {process.returncode}")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture(scope="session")
def live_server(server_url: str) -> Iterator[LiveServer]:
    import asyncio

    url = asyncio.run(database.create_database(server_url, prefix="llma_fuzz"))
    provider_port, port = _free_port(), _free_port()
    provider_url = f"http://127.0.0.1:{provider_port}"
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "APP_ENV": "development",
        "ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "ALLOW_PRIVATE_PROVIDER_URLS": "true",
        "OPENAI_BASE_URL": f"{provider_url}/v1",
        "OPENROUTER_BASE_URL": f"{provider_url}/v1",
        "FIREWORKS_BASE_URL": f"{provider_url}/v1",
        "TOGETHER_BASE_URL": f"{provider_url}/v1",
        "ANTHROPIC_BASE_URL": f"{provider_url}/anthropic",
        "GEMINI_BASE_URL": f"{provider_url}/gemini",
        "DEFAULT_LLM_PROVIDER": "openai",
        "DEFAULT_LLM_API_KEY": "sk-operator-default",
        "LOG_LEVEL": "WARNING",
    }
    provider = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.provider_app", "--port", str(provider_port)],
        env=env,
    )
    server = None
    try:
        _wait_until_up(f"{provider_url}/v1/models", provider)
        boot = subprocess.run(
            [sys.executable, "-m", "app.cli", "bootstrap", "--email", "fuzz@example.com", "--json"],
            env=env,
            capture_output=True,
            check=True,
            timeout=120,
        )
        identity = json.loads(boot.stdout)
        server = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
        )
        base = f"http://127.0.0.1:{port}"
        _wait_until_up(f"{base}/healthz", server)
        yield LiveServer(
            base_url=base,
            team_id=identity["team_id"],
            api_key=identity["api_key"],
            provider_url=provider_url,
        )
    finally:
        if server is not None:
            _stop(server)
        _stop(provider)
        asyncio.run(database.drop_database(server_url, url))
