"""Hot-path SQL: Core statements compiled once for asyncpg, run on the request's own connection.

The ORM session costs ~0.4 ms of CPU per statement on top of the driver (statement cache-key,
result metadata, row processing; `make bench`, bench/RESULTS.md). The requests that every
client makes all the time (authentication, retrieve, list, create an item) therefore run
prebuilt statements straight on the asyncpg connection that the session holds. They stay
inside the session's transaction when one is open (tests roll it back), and otherwise run as
single autocommitted statements: a read-only request then pays no `BEGIN`/`COMMIT` round trips.
Each statement must be a complete unit on its own (one row read, or one `INSERT … SELECT`).
Statements are written with SQLAlchemy Core, so names and types come from the models; the
bench's baseline compiles the very same objects.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

import asyncpg
from sqlalchemy.dialects.postgresql import asyncpg as asyncpg_dialect
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.sql import ClauseElement

from app.web.handlers import database_unavailable, sqlstate_means_unavailable

T = TypeVar("T")
_DIALECT = asyncpg_dialect.dialect()  # type: ignore[no-untyped-call]


class Statement:
    """A Core statement compiled once to asyncpg's `$n` SQL; bound by parameter name."""

    def __init__(self, statement: ClauseElement) -> None:
        compiled = statement.compile(dialect=_DIALECT)
        self.sql: str = compiled.string
        self.names: tuple[str, ...] = tuple(getattr(compiled, "positiontup", None) or ())
        self.defaults: dict[str, Any] = dict(compiled.params)

    def args(self, params: Mapping[str, Any]) -> list[Any]:
        return [params[name] if name in params else self.defaults[name] for name in self.names]


_DRIVER = "app.db.driver"


async def _driver(session: AsyncSession) -> tuple[AsyncConnection, Any]:
    """The session's connection and its asyncpg connection, looked up once per transaction."""
    held = session.info.get(_DRIVER)
    transaction = session.sync_session.get_transaction()
    if held is not None and transaction is not None and held[0] is transaction:
        return held[1], held[2]
    connection = await session.connection()
    driver = (await connection.get_raw_connection()).driver_connection
    session.info[_DRIVER] = (session.sync_session.get_transaction(), connection, driver)
    return connection, driver


async def _on_driver(session: AsyncSession, call: Callable[[Any], Awaitable[T]]) -> T:
    connection, driver = await _driver(session)
    try:
        return await call(driver)
    except asyncpg.PostgresError as exc:
        if not sqlstate_means_unavailable(exc.sqlstate):
            raise  # this statement's own error (a bug here: inputs are validated before)
        await _give_up_connection(connection, exc)
        raise database_unavailable(exc) from exc
    except Exception as exc:
        # The driver or the socket failed (connection lost, protocol out of step, command
        # timeout): whatever state the connection is in, it must not serve another request.
        await _give_up_connection(connection, exc)
        raise database_unavailable(exc) from exc


async def _give_up_connection(connection: AsyncConnection, cause: Exception) -> None:
    """Let SQLAlchemy look at the connection as it does after its own statements: a lost one
    makes it invalidate the whole pool, so the next requests reconnect. Whatever the probe
    finds, this connection is discarded."""
    with contextlib.suppress(Exception):  # failing is what the probe is expected to do
        await connection.exec_driver_sql("SELECT 1")
    await connection.invalidate(cause)


async def fetch(
    session: AsyncSession, statement: Statement, params: Mapping[str, Any]
) -> list[asyncpg.Record]:
    args = statement.args(params)
    rows: list[asyncpg.Record] = await _on_driver(
        session, lambda driver: driver.fetch(statement.sql, *args)
    )
    return rows


async def fetchrow(
    session: AsyncSession, statement: Statement, params: Mapping[str, Any]
) -> asyncpg.Record | None:
    args = statement.args(params)
    row: asyncpg.Record | None = await _on_driver(
        session, lambda driver: driver.fetchrow(statement.sql, *args)
    )
    return row


async def execute(session: AsyncSession, statement: Statement, params: Mapping[str, Any]) -> None:
    args = statement.args(params)
    await _on_driver(session, lambda driver: driver.execute(statement.sql, *args))
