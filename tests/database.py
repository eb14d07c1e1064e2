"""The suite's PostgreSQL: TEST_DATABASE_URL, or an embedded pgserver in a temporary folder.

Each pytest session creates its own uniquely named database and migrates it with Alembic, so
parallel runs never share state, and drops it at the end. The URL helpers here serve the tools
that talk to PostgreSQL beside the service's engine: the suite, and the bench (`bench.database`).
"""

from __future__ import annotations

import asyncio
import tempfile
import uuid
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url

from app.db.engine import async_url, connect_kwargs
from app.settings import Settings

_embedded: list[Any] = []


def with_database(url: str, name: str) -> str:
    """The same server, another database (an asyncpg URL)."""
    return make_url(async_url(url)).set(database=name).render_as_string(hide_password=False)


def server_url() -> str:
    """An asyncpg URL of a database we may connect to in order to create others."""
    configured = Settings(_env_file=None).test_database_url  # type: ignore[call-arg]
    if configured:
        return async_url(configured)
    from app.db.embedded import start_embedded_postgres

    folder = Path(tempfile.mkdtemp(prefix="llma-test-pg-"))
    server, url = start_embedded_postgres(folder, cleanup_mode="delete")
    _embedded.append(server)
    return url


async def create_database(url: str, prefix: str = "llma_test") -> str:
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    connection = await asyncpg.connect(**connect_kwargs(url))
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    return with_database(url, name)


async def drop_database(server: str, database_url: str) -> None:
    name = make_url(database_url).database
    connection = await asyncpg.connect(**connect_kwargs(server))
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()


async def alembic(database_url: str, action: str, *args: Any) -> None:
    """Run an Alembic command on the packaged migrations, configured as `llma migrate` does, in
    a thread (its env.py runs its own event loop)."""
    from alembic import command

    from app.db.migrate import alembic_config

    config = alembic_config(database_url)
    await asyncio.to_thread(getattr(command, action), config, *args)
