"""Fixtures of the reliability checks: a database of their own, committed for real."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests import database


@pytest.fixture
async def fresh_database(server_url: str) -> AsyncIterator[str]:
    """A new, migrated database on the suite's server, dropped afterwards."""
    url = await database.create_database(server_url, prefix="llma_reliability")
    try:
        await database.alembic(url, "upgrade", "head")
        yield url
    finally:
        await database.drop_database(server_url, url)
