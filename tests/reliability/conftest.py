"""Fixtures of the reliability checks: a database of their own, committed for real."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from tests import database
from tests.reliability import harness


@pytest.fixture(scope="session", autouse=True)
def nothing_left_running() -> Iterator[None]:
    """Every server a test started is gone when the suite ends; leftovers are stopped, and
    reported as an error of the run."""
    yield
    leftovers = harness.still_running()
    harness.stop_processes(leftovers)
    assert not leftovers, f"servers still running after the suite: {leftovers}"


@pytest.fixture
async def fresh_database(server_url: str) -> AsyncIterator[str]:
    """A new, migrated database on the suite's server, dropped afterwards."""
    url = await database.create_database(server_url, prefix="llma_reliability")
    try:
        await database.alembic(url, "upgrade", "head")
        yield url
    finally:
        await database.drop_database(server_url, url)
