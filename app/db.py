"""Engine and session factories, the per-request session (transaction boundary), ORM base."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any, ClassVar

import uuid_utils.compat as uuid_compat
from fastapi import Depends, Request
from sqlalchemy import DateTime, MetaData, event, func
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {dt.datetime: DateTime(timezone=True)}


def uuid7() -> uuid.UUID:
    """A time-ordered UUID (v7): ids sort by creation and keep b-tree inserts local."""
    return uuid_compat.uuid7()


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class TimestampMixin:
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, server_default=func.now())
    updated_at: Mapped[dt.datetime] = mapped_column(
        default=utcnow, onupdate=utcnow, server_default=func.now()
    )


def async_url(url: str) -> str:
    """Accept plain `postgresql://` URLs too, and always talk asyncpg."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres", "postgresql+psycopg2", "postgresql+psycopg"):
        parsed = parsed.set(drivername="postgresql+asyncpg")
    return parsed.render_as_string(hide_password=False)


def with_database(url: str, name: str) -> str:
    """The same server, another database (an asyncpg URL)."""
    return make_url(async_url(url)).set(database=name).render_as_string(hide_password=False)


def connect_kwargs(url: str) -> dict[str, Any]:
    """`asyncpg.connect()` arguments for a URL (TCP, or a socket directory in `?host=`): for
    the tools that talk to PostgreSQL beside the engine (the test suite, the bench)."""
    parsed = make_url(url)
    kwargs: dict[str, Any] = {
        "user": parsed.username or "postgres",
        "password": parsed.password,
        "database": parsed.database or "postgres",
    }
    host = parsed.query.get("host") or parsed.host or "127.0.0.1"
    kwargs["host"] = host if isinstance(host, str) else host[0]
    if parsed.port:
        kwargs["port"] = parsed.port
    return kwargs


# Pessimistic disconnect handling, made cheap. SQLAlchemy's `pool_pre_ping` costs three round
# trips per checkout on asyncpg (BEGIN, ";", ROLLBACK): 8 % of a busy worker's time on the
# dataset-items list (`make bench`, bench/RESULTS.md). A connection checked in moments ago is
# alive; only one idle for longer than this is pinged before use. One that dies while in steady
# use fails a single request with 503, and SQLAlchemy then invalidates the whole pool, so the
# following requests reconnect.
PING_AFTER_IDLE_SECONDS = 2.0


def _ping_idle_connections(engine: AsyncEngine) -> None:
    pool = engine.sync_engine.pool

    @event.listens_for(pool, "checkin")
    def _idle_from(dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(pool, "checkout")
    def _ping_if_idle(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        idle_since = record.info.get("idle_since")
        if idle_since is None or time.monotonic() - idle_since < PING_AFTER_IDLE_SECONDS:
            return
        try:
            dbapi_connection.ping()
        except Exception as exc:
            # The pool discards this connection and checks out (or opens) another.
            raise DisconnectionError("stale pooled connection") from exc


def create_engine(url: str, **kwargs: Any) -> AsyncEngine:
    options: dict[str, Any] = {
        # Twenty connections kept per worker, none beyond. An overflow connection is closed
        # as soon as it is checked in while the pool is full, so a load hovering above the
        # pool size opens and closes connections all the time: with 10 + 10, `make bench` saw
        # ~15 new sessions a second on retrieve, 3.7x the database CPU per request, and the
        # p99 that goes with connection set-up. Requests beyond twenty wait `pool_timeout`.
        # Last in, first out: a light load keeps reusing a few warm connections.
        "pool_size": 20,
        "max_overflow": 0,
        "pool_use_lifo": True,
        "pool_recycle": 1800,
        # A dead database must fail a request quickly (503), not hang it.
        "pool_timeout": 5,
        "connect_args": {"timeout": 5, "command_timeout": 30},
    }
    options.update(kwargs)
    engine = create_async_engine(async_url(url), **options)
    if not options.get("pool_pre_ping"):
        _ping_idle_connections(engine)
    return engine


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One session per request: commit when the handler succeeded, roll back otherwise."""
    sessionmaker: async_sessionmaker[AsyncSession] = request.app.state.sessionmaker
    async with sessionmaker() as session:
        try:
            yield session
        except BaseException:
            await session.rollback()
            raise
        else:
            await session.commit()


# `scope="function"` runs the commit before the response is sent, so a failed commit
# can never follow a 2xx (FastAPI >= 0.121).
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]


@asynccontextmanager
async def short_transaction(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> AsyncIterator[AsyncSession]:
    """One short committed transaction for background work (the job-queue tasks).

    Commits when the block succeeds, rolls back otherwise, and returns the connection to the
    pool at once: callers read, leave, call a provider, then write in another one (STYLE #12).
    """
    async with sessionmaker() as session, session.begin():
        yield session
