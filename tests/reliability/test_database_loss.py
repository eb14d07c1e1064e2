"""PostgreSQL stops under load: quick 503s, no hang, no traceback; it returns: the service heals.

The service gets a PostgreSQL of its own (pgserver in a temporary folder), so stopping it never
disturbs a database another test uses.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy.engine import make_url

from app.db.embedded import start_embedded_postgres
from tests import database
from tests.reliability import harness
from tests.reliability.harness import Outcome, Recorder, Tenant, hammer, provision, serving

pytestmark = pytest.mark.reliability

ANSWER_WITHIN = 2.0
RECOVER_WITHIN = 5.0


class OwnPostgres:
    """A pgserver instance that this test alone may stop and start."""

    def __init__(self, folder: Path) -> None:
        self.server, server_url = start_embedded_postgres(folder, cleanup_mode="delete")
        self.pgdata = Path(self.server.pgdata)
        socket_dir = make_url(server_url).query["host"]
        self.socket_dir = socket_dir if isinstance(socket_dir, str) else socket_dir[0]
        self.server_url = server_url
        self.track()

    def track(self) -> None:
        """Register the running postmaster for the suite's end-of-session check."""
        pid = int((self.pgdata / "postmaster.pid").read_text().split("\n", 1)[0])
        harness.track(f"PostgreSQL in {self.pgdata}", pid)

    def pg_ctl(self, *args: str) -> None:
        from pgserver._commands import POSTGRES_BIN_PATH

        # pgserver runs PostgreSQL as an unprivileged user when we are root; so must pg_ctl.
        subprocess.run(
            [str(POSTGRES_BIN_PATH / "pg_ctl"), "-D", str(self.pgdata), *args],
            check=True,
            capture_output=True,
            timeout=60,
            user=self.server.system_user,
        )

    def stop(self) -> None:
        self.pg_ctl("-w", "-m", "fast", "stop")

    def start(self) -> None:
        self.pg_ctl(
            "-w", "-o", '-h ""', "-o", f"-k {self.socket_dir}", "-l", str(self.pgdata / "log"),
            "start",
        )  # fmt: skip
        self.track()


@pytest.fixture
async def own_postgres() -> AsyncIterator[tuple[OwnPostgres, str]]:
    folder = Path(tempfile.mkdtemp(prefix="llma-dbloss-"))
    postgres = await asyncio.to_thread(OwnPostgres, folder)
    try:
        url = await database.create_database(postgres.server_url, prefix="llma_dbloss")
        await database.alembic(url, "upgrade", "head")
        yield postgres, url
    finally:
        # pgserver stops only the postmaster it started itself; after a restart by pg_ctl
        # it would leave the new one running (and delete its data folder from under it).
        if (postgres.pgdata / "postmaster.pid").exists():
            await asyncio.to_thread(postgres.stop)
        await asyncio.to_thread(postgres.server.cleanup)
        shutil.rmtree(folder, ignore_errors=True)


def _is_database_unavailable(outcome: Outcome) -> bool:
    body = outcome.body
    return (
        outcome.status == 503
        and isinstance(body, dict)
        and body.get("type") == "server_error"
        and body.get("code") == "database_unavailable"
        and set(body) == {"type", "code", "detail", "attr"}
    )


async def _load(
    client: httpx.AsyncClient, tenant: Tenant, dataset_id: str, recorder: Recorder, stop: Any
) -> None:
    items = f"/api/environments/{tenant.team_id}/dataset_items/"

    async def one(client_number: int, sequence: int) -> None:
        if client_number % 2:
            await recorder.send(client, "GET", items, params={"dataset": dataset_id})
        else:
            body = {"dataset": dataset_id, "input": {"n": sequence}}
            await recorder.send(client, "POST", items, json=body)
        await asyncio.sleep(0.02)

    await hammer(8, stop, one)


async def test_database_loss_answers_503_quickly_and_recovers_without_restart(
    own_postgres: tuple[OwnPostgres, str], tmp_path: Path
) -> None:
    postgres, url = own_postgres
    tenant = await provision(url)
    async with asyncio.timeout(120), serving(url, tmp_path) as service:
        async with httpx.AsyncClient(
            base_url=service.base, headers=tenant.headers, timeout=30
        ) as client:
            created = await client.post(
                f"/api/environments/{tenant.team_id}/datasets/", json={"name": "db loss"}
            )
            assert created.status_code == 201, created.text
            dataset_id = created.json()["id"]

            # Phase 1: healthy load. Phase 2: PostgreSQL stopped under load.
            before, during = Recorder(), Recorder()
            phase = {"done": False}
            loading = asyncio.create_task(
                _load(client, tenant, dataset_id, before, lambda: phase["done"])
            )
            await asyncio.sleep(2)
            await asyncio.to_thread(postgres.stop)
            stopped_at = time.monotonic()
            phase["done"] = True
            await loading
            phase["done"] = False
            loading = asyncio.create_task(
                _load(client, tenant, dataset_id, during, lambda: phase["done"])
            )
            await asyncio.sleep(4)
            ready = await client.get("/readyz")
            phase["done"] = True
            await loading

            # Phase 3: PostgreSQL is back; the same process serves again.
            await asyncio.to_thread(postgres.start)
            started_at = time.monotonic()
            recovered_after = await _first_success(client, tenant, dataset_id, started_at)
            after = await client.post(
                f"/api/environments/{tenant.team_id}/dataset_items/",
                json={"dataset": dataset_id, "input": {"after": True}},
            )
        log = service.log()

    healthy = [o for o in before.outcomes if o.started + o.elapsed < stopped_at - 1]
    assert healthy
    assert {o.status for o in healthy} <= {200, 201}, _summary(healthy)
    # Requests in flight when PostgreSQL stopped finished either way, but never with a 500.
    assert {o.status for o in before.outcomes} <= {200, 201, 503}, _summary(before.outcomes)
    down = [o for o in during.outcomes if o.started >= stopped_at]
    assert len(down) >= 20, "the load did not reach the service while the database was down"
    assert all(_is_database_unavailable(o) for o in down), _summary(down)
    assert max(o.elapsed for o in down) < ANSWER_WITHIN, _summary(down)
    assert ready.status_code == 503
    assert recovered_after < RECOVER_WITHIN
    assert after.status_code == 201, after.text
    assert "Traceback" not in log
    # No acknowledged write is lost. A create in flight when the database stopped may have
    # committed without its answer getting back: at most one per client.
    acknowledged = _acknowledged(before, during) + 1
    assert acknowledged <= await _count(url, dataset_id) <= acknowledged + 8


async def _first_success(
    client: httpx.AsyncClient, tenant: Tenant, dataset_id: str, since: float
) -> float:
    path = f"/api/environments/{tenant.team_id}/dataset_items/"
    while time.monotonic() - since < RECOVER_WITHIN + 5:
        try:
            response = await client.get(path, params={"dataset": dataset_id}, timeout=2)
            if response.status_code == 200:
                return time.monotonic() - since
            assert response.status_code == 503, response.text
        except httpx.TimeoutException:
            pass
        await asyncio.sleep(0.1)
    return float("inf")


def _acknowledged(*recorders: Recorder) -> int:
    return sum(1 for r in recorders for o in r.outcomes if o.status == 201)


def _summary(outcomes: list[Outcome]) -> str:
    shown = [(o.status, round(o.elapsed, 2), str(o.body)[:120], o.error) for o in outcomes[:8]]
    return f"{len(outcomes)} requests, e.g. {shown}"


async def _count(url: str, dataset_id: str) -> int:
    connection = await asyncpg.connect(**database.connect_kwargs(url))
    try:
        value = await connection.fetchval(
            "SELECT count(*) FROM dataset_items WHERE dataset_id = $1::uuid", dataset_id
        )
        return int(value)
    finally:
        await connection.close()


async def test_a_restart_while_idle_costs_no_request(
    own_postgres: tuple[OwnPostgres, str], tmp_path: Path
) -> None:
    """Pooled connections that PostgreSQL dropped while the service was idle are pinged and
    replaced before use, so the first request after the restart already succeeds."""
    postgres, url = own_postgres
    tenant = await provision(url)
    path = f"/api/environments/{tenant.team_id}/datasets/"
    async with asyncio.timeout(90), serving(url, tmp_path) as service:
        async with httpx.AsyncClient(
            base_url=service.base, headers=tenant.headers, timeout=10
        ) as client:
            # Several connections in the pool, all of them stale after the restart.
            warm = await asyncio.gather(*(client.get(path) for _ in range(6)))
            await asyncio.to_thread(postgres.stop)
            await asyncio.to_thread(postgres.start)
            await asyncio.sleep(2.5)
            after = await asyncio.gather(*(client.get(path) for _ in range(6)))
        log = service.log()

    assert [r.status_code for r in warm] == [200] * 6
    assert [r.status_code for r in after] == [200] * 6, [r.text for r in after]
    assert "Traceback" not in log
