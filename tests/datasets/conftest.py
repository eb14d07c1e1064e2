"""Fixtures for the datasets tests: URLs, a second team, keys with narrower scopes, SQL capture."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from tests.factories import Identity, add_key, bearer


@dataclass
class Urls:
    team_id: int

    @property
    def datasets(self) -> str:
        return f"/api/environments/{self.team_id}/datasets/"

    @property
    def items(self) -> str:
        return f"/api/environments/{self.team_id}/dataset_items/"

    def dataset(self, dataset_id: str) -> str:
        return f"{self.datasets}{dataset_id}/"

    def item(self, item_id: str) -> str:
        return f"{self.items}{item_id}/"


@pytest.fixture
def urls(identity: Identity) -> Urls:
    return Urls(identity.team.id)


@pytest.fixture
async def read_headers(session: AsyncSession, identity: Identity) -> dict[str, str]:
    secret = await add_key(session, identity, scopes=["dataset:read"])
    await session.commit()
    return bearer(secret)


@pytest.fixture
async def unrelated_headers(session: AsyncSession, identity: Identity) -> dict[str, str]:
    secret = await add_key(session, identity, scopes=["evaluation:write"])
    await session.commit()
    return bearer(secret)


async def create_dataset(api: httpx.AsyncClient, urls: Urls, **fields: Any) -> dict[str, Any]:
    response = await api.post(urls.datasets, json={"name": "dataset", **fields})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def create_item(
    api: httpx.AsyncClient, urls: Urls, dataset_id: str, **fields: Any
) -> dict[str, Any]:
    response = await api.post(urls.items, json={"dataset": dataset_id, **fields})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def assert_error(response: httpx.Response, status: int, attr: str | None, code: str) -> str:
    """The error shape of SPEC §4; returns `detail` for further checks."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"type", "code", "detail", "attr"}
    assert body["attr"] == attr
    assert body["code"] == code
    assert body["type"] == ("validation_error" if status == 400 else body["type"])
    detail: str = body["detail"]
    return detail


class StatementLog:
    """The SQL statements (with their parameters) sent on the test's connection: through
    SQLAlchemy, and straight on the driver (`app.statements`)."""

    def __init__(self) -> None:
        self.executed: list[tuple[str, Any]] = []

    @property
    def statements(self) -> list[str]:
        return [statement for statement, _ in self.executed]

    def clear(self) -> None:
        self.executed.clear()

    async def settled(self) -> StatementLog:
        """The log once asyncpg has delivered its entries (it calls its loggers `call_soon`)."""
        await asyncio.sleep(0)
        return self

    def selecting_from(self, table: str) -> list[tuple[str, Any]]:
        return [
            (statement, parameters)
            for statement, parameters in self.executed
            if statement.lstrip().upper().startswith("SELECT") and f"FROM {table}" in statement
        ]


@pytest.fixture
async def sql_log(connection: AsyncConnection) -> AsyncIterator[StatementLog]:
    log = StatementLog()

    def record(conn: Any, cursor: Any, statement: str, parameters: Any, *args: Any) -> None:
        log.executed.append((statement, parameters))

    def record_on_driver(query: Any) -> None:
        log.executed.append((query.query, query.args))

    target = connection.sync_connection
    assert target is not None
    driver = (await connection.get_raw_connection()).driver_connection
    event.listen(target, "before_cursor_execute", record)
    driver.add_query_logger(record_on_driver)
    yield log
    driver.remove_query_logger(record_on_driver)
    event.remove(target, "before_cursor_execute", record)
