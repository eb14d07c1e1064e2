"""The benchmark's PostgreSQL: the embedded server under bench/.data, or a given one.

The bench works in its own database (`llma_bench`), created and migrated on first use and
reused afterwards, so a second run starts timing within a minute.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import asyncpg
import psutil
from sqlalchemy.engine import make_url

from app.db.engine import connect_kwargs
from tests.database import with_database

BENCH_DIR = Path(__file__).resolve().parent
DATA_DIR = BENCH_DIR / ".data"
DATABASE_NAME = "llma_bench"
IDLE_CPU_PERCENT = 25.0


def server_url(given: str | None) -> tuple[str, Any]:
    """A SQLAlchemy URL of a server we may create databases on, and the embedded server handle."""
    if given:
        return given, None
    from app.db.embedded import start_embedded_postgres

    server, url = start_embedded_postgres(DATA_DIR, cleanup_mode="stop")
    return url, server


def plain_dsn(url: str) -> str:
    """A libpq/asyncpg DSN (`postgresql://…`) for processes that take one string."""
    parsed = make_url(url).set(drivername="postgresql")
    return parsed.render_as_string(hide_password=False)


async def connect(url: str) -> asyncpg.Connection:
    return await asyncpg.connect(**connect_kwargs(url))


async def ensure_database(server: str) -> str:
    """Create `llma_bench` when missing and migrate it to head; return its URL."""
    connection = await connect(server)
    try:
        exists = await connection.fetchval(
            "SELECT 1 FROM pg_database WHERE datname = $1", DATABASE_NAME
        )
        if not exists:
            await connection.execute(f'CREATE DATABASE "{DATABASE_NAME}"')
    finally:
        await connection.close()
    url = with_database(server, DATABASE_NAME)
    from app.cli.database import run_migrations

    await asyncio.to_thread(run_migrations, url)
    return url


async def server_version(url: str) -> str:
    connection = await connect(url)
    try:
        return str(await connection.fetchval("SHOW server_version"))
    finally:
        await connection.close()


async def wait_until_idle(url: str, *, quiet_for: float = 1.0, limit: float = 90.0) -> float:
    """Wait until no other backend (autovacuum included) has been active for `quiet_for` s,
    then (for at most `limit` s more) until the machine's CPUs are mostly idle.

    Returns the seconds waited. Runs must not start while the previous one's writes are still
    being vacuumed or checkpointed, or the second contender pays for the first; and on a shared
    machine a run that starts while other work hogs the CPUs measures that work, not ours.
    """
    started = time.monotonic()
    quiet_since: float | None = None
    connection = await connect(url)
    try:
        while time.monotonic() - started < limit:
            busy = await connection.fetchval(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE pid <> pg_backend_pid() AND datname = current_database() "
                "AND state IS DISTINCT FROM 'idle' "
                "AND backend_type IN ('client backend', 'autovacuum worker')"
            )
            now = time.monotonic()
            if busy:
                quiet_since = None
            elif quiet_since is None:
                quiet_since = now
            elif now - quiet_since >= quiet_for:
                break
            await asyncio.sleep(0.2)
    finally:
        await connection.close()
    cpu_deadline = time.monotonic() + limit
    while time.monotonic() < cpu_deadline:
        busy = await asyncio.to_thread(psutil.cpu_percent, 1.0)
        if busy < IDLE_CPU_PERCENT:
            break
    return time.monotonic() - started
