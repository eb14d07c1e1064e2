"""The job queue's schema, as pgqueuer's own installer renders it (run by our migration)."""

from __future__ import annotations

from pgqueuer.adapters.persistence.qb import QueryBuilderEnvironment
from pgqueuer.domain.settings import DBSettings
from sqlalchemy.engine import Connection
from sqlalchemy.util import await_only


def _builder() -> QueryBuilderEnvironment:
    # Default names (`pgqueuer`, `pgqueuer_log`, …) in the connection's schema; the PGQUEUER_*
    # environment variables are deliberately not read, so every process agrees on them.
    return QueryBuilderEnvironment(DBSettings.model_construct())


def install_sql() -> str:
    return _builder().build_install_query(create_schema=False)


def uninstall_sql() -> str:
    return _builder().build_uninstall_query()


def execute_script(bind: Connection, script: str) -> None:
    """Run a multi-statement script in the migration's transaction.

    asyncpg prepares every statement SQLAlchemy sends, and a prepared statement holds one
    command; its simple-query `execute` takes a whole script, so the script goes that way.
    """
    driver_connection = bind.connection.driver_connection
    assert driver_connection is not None
    await_only(driver_connection.execute(script))
