"""The engine (pool sizing, cheap liveness pings, pool metrics), sessionmakers, and the one URL
rule: whatever PostgreSQL URL is given, talk asyncpg."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import AsyncAdaptedQueuePool, PoolProxiedConnection

from app import metrics


def async_url(url: str) -> str:
    """Accept plain `postgresql://` URLs too, and always talk asyncpg."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres", "postgresql+psycopg2", "postgresql+psycopg"):
        parsed = parsed.set(drivername="postgresql+asyncpg")
    return parsed.render_as_string(hide_password=False)


def connect_kwargs(url: str) -> dict[str, Any]:
    """`asyncpg.connect()` arguments for a URL (TCP, or a socket directory in `?host=`): for
    connections beside the engine (the job queue's listener, tests, the bench)."""
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


class MeteredPool(AsyncAdaptedQueuePool):
    """The default async pool, counting checkouts that are waiting (`/metrics`)."""

    def connect(self) -> PoolProxiedConnection:
        metrics.DB_POOL_WAITING.inc()
        try:
            return super().connect()
        finally:
            metrics.DB_POOL_WAITING.dec()


def _meter_connections_in_use(engine: AsyncEngine) -> None:
    # Registered after the idle ping: a checkout it refuses is retried and counted once.
    pool = engine.sync_engine.pool

    @event.listens_for(pool, "checkout")
    def _checked_out(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        metrics.DB_POOL_IN_USE.inc()

    @event.listens_for(pool, "checkin")
    def _checked_in(dbapi_connection: Any, record: Any) -> None:
        metrics.DB_POOL_IN_USE.dec()


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
        "poolclass": MeteredPool,
    }
    options.update(kwargs)
    engine = create_async_engine(async_url(url), **options)
    if not options.get("pool_pre_ping"):
        _ping_idle_connections(engine)
    _meter_connections_in_use(engine)
    return engine


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)
