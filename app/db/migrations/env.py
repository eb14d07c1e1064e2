"""Alembic environment: runs migrations over asyncpg against the URL the caller chose."""

from __future__ import annotations

import asyncio
from logging.config import fileConfig

from alembic import context
from sqlalchemy import pool
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

import app.models  # noqa: F401  (registers every table on Base.metadata)
from app.db.base import Base
from app.db.engine import async_url

config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logging", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = Base.metadata


def _database_url() -> str:
    url = config.attributes.get("database_url")
    if url:
        return str(url)
    from app.db.embedded import resolve_database_url
    from app.settings import get_settings

    return resolve_database_url(get_settings())


def _include_object(
    obj: object, name: str | None, kind: str, reflected: bool, compare_to: object
) -> bool:
    # The optional pg_trgm indexes live only in the migration (see 0001); `alembic check`
    # must not report them as drift.
    if kind == "index" and name is not None and "_trgm_" in name:
        return False
    # The job queue's tables belong to pgqueuer (installed by b6_experiments), not to our models.
    return not (reflected and name is not None and name.startswith("pgqueuer"))


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        include_object=_include_object,
        compare_type=True,
        transaction_per_migration=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_async() -> None:
    engine = create_async_engine(
        async_url(_database_url()), poolclass=pool.NullPool, connect_args={"timeout": 10}
    )
    async with engine.connect() as connection:
        await connection.run_sync(_run)
    await engine.dispose()


if context.is_offline_mode():
    context.configure(url=_database_url(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(_run_async())
