"""`/metrics` with several workers (`llma serve --workers 2`, for real), and the pool gauges."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from prometheus_client import REGISTRY
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.cli.serve import prepare_metrics_dir
from app.db.engine import create_engine
from tests import database
from tests.reliability.harness import serving

REQUESTS = 40
READYZ = re.compile(
    r'^http_requests_total\{method="GET",route="/readyz",status="200"\} (\S+)$', re.M
)


def sample(name: str) -> float:
    return REGISTRY.get_sample_value(name) or 0.0


@pytest.fixture
async def served_database(server_url: str) -> AsyncIterator[str]:
    url = await database.create_database(server_url, prefix="llma_metrics")
    try:
        yield url
    finally:
        await database.drop_database(server_url, url)


async def test_two_workers_scrape_the_same_totals(
    served_database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The image's command, with no PROMETHEUS_MULTIPROC_DIR given: `serve` makes its own folder.
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    async with serving(served_database, tmp_path, workers=2) as service:
        # Fresh connections, several at a time, so both workers take requests.
        async def ready() -> int:
            async with httpx.AsyncClient(base_url=service.base, timeout=10) as client:
                return (await client.get("/readyz")).status_code

        statuses: list[int] = []
        for _ in range(REQUESTS // 8):
            statuses += await asyncio.gather(*(ready() for _ in range(8)))
        assert statuses == [200] * REQUESTS

        totals = []
        for _ in range(6):
            async with httpx.AsyncClient(base_url=service.base, timeout=10) as client:
                scraped = await client.get("/metrics")
            assert scraped.status_code == 200
            match = READYZ.search(scraped.text)
            assert match is not None, scraped.text[:2000]
            totals.append(float(match.group(1)))
            assert "db_pool_connections_in_use" in scraped.text
        assert totals == [REQUESTS] * 6, totals
        log = service.log()
    # Both workers served: each announced itself.
    assert len(set(re.findall(r"Started server process \[(\d+)\]", log))) == 2, log[-2000:]


def test_metrics_folder_is_prepared_and_emptied(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Set first, so that monkeypatch restores the variable `prepare_metrics_dir` sets.
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", "")
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR")
    assert prepare_metrics_dir(1) is None  # one worker: the process's own registry
    created = prepare_metrics_dir(2)
    assert created is not None
    assert Path(created).is_dir()
    Path(created).rmdir()

    # A folder the operator names is kept, minus the last run's files.
    folder = tmp_path / "metrics"
    folder.mkdir()
    (folder / "counter_4242.db").write_bytes(b"stale")
    (folder / "notes.txt").write_text("kept")
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(folder))
    assert prepare_metrics_dir(2) is None
    assert sorted(p.name for p in folder.iterdir()) == ["notes.txt"]


async def _select_one(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        await connection.execute(text("SELECT 1"))


async def test_pool_gauges_follow_checkouts_and_waiters(database_url: str) -> None:
    engine = create_engine(database_url, pool_size=1, max_overflow=0, pool_timeout=10)
    try:
        in_use = sample("db_pool_connections_in_use")
        waiting = sample("db_pool_checkouts_waiting")
        async with engine.connect() as held:
            await held.execute(text("SELECT 1"))
            assert sample("db_pool_connections_in_use") == in_use + 1
            assert sample("db_pool_checkouts_waiting") == waiting
            queued = asyncio.create_task(_select_one(engine))
            for _ in range(200):
                if sample("db_pool_checkouts_waiting") == waiting + 1:
                    break
                await asyncio.sleep(0.01)
            assert sample("db_pool_checkouts_waiting") == waiting + 1
            assert not queued.done()
        await asyncio.wait_for(queued, timeout=10)
        assert sample("db_pool_checkouts_waiting") == waiting
        assert sample("db_pool_connections_in_use") == in_use
    finally:
        await engine.dispose()
