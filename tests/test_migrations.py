"""The schema comes only from Alembic: empty → head → base → head, and no drift from the models."""

from __future__ import annotations

import asyncpg

from tests import database


async def _tables(url: str) -> set[str]:
    connection = await asyncpg.connect(**database.connect_kwargs(url))
    try:
        rows = await connection.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    finally:
        await connection.close()
    return {row["tablename"] for row in rows}


async def test_upgrade_check_downgrade_upgrade(server_url: str) -> None:
    url = await database.create_database(server_url, prefix="llma_migrations")
    try:
        assert await _tables(url) == set()
        await database.alembic(url, "upgrade", "head")
        tables = await _tables(url)
        assert {"datasets", "dataset_items", "personal_api_keys", "evaluation_runs"} <= tables
        # Fails when a model changed without a migration.
        await database.alembic(url, "check")
        await database.alembic(url, "downgrade", "base")
        assert await _tables(url) == {"alembic_version"}
        await database.alembic(url, "upgrade", "head")
        assert await _tables(url) == tables
    finally:
        await database.drop_database(server_url, url)
