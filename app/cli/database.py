"""`llma migrate`, and the database plumbing every command shares: migrating to head, one
committed session for a command's work, and "cannot reach PostgreSQL" said in one line."""

from __future__ import annotations

import argparse
import logging
import socket
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from app.cli.common import CommandError, CommandFactory, UsageError, causes
from app.db.embedded import resolve_database_url
from app.settings import Settings

logger = logging.getLogger("app.cli")
T = TypeVar("T")


def run_migrations(database_url: str) -> None:
    from alembic import command

    from app.db.migrate import alembic_config

    with database_errors(database_url):
        command.upgrade(alembic_config(database_url), "head")
    logger.info("database at %s migrated to head", where(database_url))


async def with_session(database_url: str, work: Callable[[Any], Awaitable[T]]) -> T:
    """Run `work(session)` in one transaction, committed when it returns, on a one-connection
    engine that is gone afterwards."""
    from app.db.engine import create_engine, create_sessionmaker
    from app.db.session import transaction

    with database_errors(database_url):
        engine = create_engine(database_url, pool_size=1, max_overflow=0)
        try:
            async with transaction(create_sessionmaker(engine)) as session:
                return await work(session)
        finally:
            await engine.dispose()


def where(database_url: str) -> str:
    """`host:port/db` of a URL (or the socket folder of the embedded server); no password."""
    from sqlalchemy.engine import make_url

    parsed = make_url(database_url)
    socket_dir = parsed.query.get("host")
    if socket_dir:
        return f"{socket_dir if isinstance(socket_dir, str) else socket_dir[0]} (socket)"
    return f"{parsed.host or 'localhost'}:{parsed.port or 5432}/{parsed.database or ''}"


@contextmanager
def database_errors(database_url: str) -> Iterator[None]:
    """Turn "cannot reach / log in to PostgreSQL" into one line naming the host."""
    import asyncpg

    try:
        yield
    except (CommandError, UsageError):
        raise
    except Exception as exc:
        for cause in causes(exc):
            if isinstance(cause, ConnectionRefusedError):
                reason = "connection refused"
            elif isinstance(cause, socket.gaierror):
                reason = "unknown host"
            elif isinstance(cause, TimeoutError):
                reason = "timed out"
            elif isinstance(cause, OSError):
                reason = cause.strerror or str(cause)
            elif isinstance(
                cause,
                asyncpg.InvalidAuthorizationSpecificationError
                | asyncpg.InvalidCatalogNameError
                | asyncpg.CannotConnectNowError
                | asyncpg.TooManyConnectionsError,
            ):
                reason = str(cause)
            else:
                continue
            raise CommandError(
                f"cannot connect to PostgreSQL at {where(database_url)} (DATABASE_URL): {reason}"
            ) from exc
        raise


def cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    run_migrations(resolve_database_url(settings))
    return 0


def register(command: CommandFactory) -> None:
    migrate = command("migrate", "alembic upgrade head")
    migrate.set_defaults(handler=cmd_migrate)
