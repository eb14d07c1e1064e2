"""Under concurrent load no acknowledged write is lost, and nothing answers 5xx (SPEC §10)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import asyncpg
import httpx
import pytest

from tests import database
from tests.reliability.harness import Recorder, hammer, provision, serving

pytestmark = pytest.mark.reliability

CLIENTS = 50
SECONDS = 20


async def test_fifty_clients_creating_items_lose_nothing(
    fresh_database: str, tmp_path: Path
) -> None:
    tenant = await provision(fresh_database)
    recorder = Recorder()
    async with asyncio.timeout(150), serving(fresh_database, tmp_path, workers=2) as service:
        limits = httpx.Limits(max_connections=CLIENTS, max_keepalive_connections=CLIENTS)
        async with httpx.AsyncClient(
            base_url=service.base, headers=tenant.headers, timeout=60, limits=limits
        ) as client:
            items = f"/api/environments/{tenant.team_id}/dataset_items/"
            created = await client.post(
                f"/api/environments/{tenant.team_id}/datasets/", json={"name": "load"}
            )
            assert created.status_code == 201, created.text
            dataset_id = created.json()["id"]
            deadline = time.monotonic() + SECONDS

            async def create_one(client_number: int, sequence: int) -> None:
                body = {
                    "dataset": dataset_id,
                    "input": {"messages": [{"role": "user", "content": "hello " * 40}]},
                    "output": {"content": "hi " * 40},
                    "metadata": {"client": client_number, "sequence": sequence},
                    "ref_source_id": f"{client_number}-{sequence}",
                }
                await recorder.send(client, "POST", items, json=body)

            await hammer(CLIENTS, lambda: time.monotonic() > deadline, create_one)
            assert "Traceback" not in service.log()

    outcomes = recorder.outcomes
    first = min(o.started for o in outcomes)
    unanswered = [
        (round(o.started - first, 2), round(o.elapsed, 2), o.error)
        for o in outcomes
        if o.status is None
    ]
    server_errors = [(o.status, o.body) for o in outcomes if o.status and o.status >= 500]
    acknowledged = {o.body["id"] for o in outcomes if o.status == 201}
    assert not unanswered, f"{len(unanswered)} of {len(outcomes)}: {unanswered[:5]}"
    assert not server_errors, server_errors[:5]
    assert {o.status for o in outcomes} == {201}
    # Enough traffic that the check means something even on a slow CI machine.
    assert len(acknowledged) >= 5 * CLIENTS

    rows = await _stored(fresh_database, dataset_id)
    assert len(rows) == len(acknowledged)
    assert {str(row["id"]) for row in rows} == acknowledged
    # Each acknowledged request was stored once, with its own body.
    assert len({row["ref_source_id"] for row in rows}) == len(rows)


async def _stored(url: str, dataset_id: str) -> list[asyncpg.Record]:
    connection = await asyncpg.connect(**database.connect_kwargs(url))
    try:
        return await connection.fetch(
            "SELECT id, ref_source_id FROM dataset_items WHERE dataset_id = $1::uuid", dataset_id
        )
    finally:
        await connection.close()
