"""`llma worker --metrics-port`: a standalone worker serves its own Prometheus series."""

from __future__ import annotations

import asyncio
import os
import signal
import sys

import httpx
from cryptography.fernet import Fernet

from tests.reliability.harness import free_port


async def test_a_worker_serves_its_metrics(database_url: str) -> None:
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "APP_ENV": "development",
    }
    worker = await asyncio.create_subprocess_exec(
        sys.executable,
        *["-m", "app.cli", "worker", "--metrics-port", str(port), "--metrics-host", "127.0.0.1"],
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        text = ""
        async with httpx.AsyncClient() as client:
            for _ in range(100):
                try:
                    text = (await client.get(f"http://127.0.0.1:{port}/")).text
                    break
                except httpx.TransportError:
                    await asyncio.sleep(0.1)
        assert "llma_experiment_jobs_total" in text
        assert "llma_experiment_provider_calls_total" in text
        assert "llma_experiment_provider_call_seconds" in text
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(worker.wait(), 15)
        except TimeoutError:
            worker.kill()
            await worker.wait()
    assert worker.returncode == 0
