"""The embedded PostgreSQL (the `pgserver` package) used when DATABASE_URL is unset.

Development only: `pgserver` is the optional `embedded` extra (`pip install 'llma[embedded]'`,
pulled in by `dev`), and production never starts it.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any

logger = logging.getLogger("app.db.embedded")


class DatabaseConfigError(RuntimeError):
    """No usable database: DATABASE_URL is required here (production, or pgserver missing)."""


def _import_pgserver() -> Any:
    try:
        with warnings.catch_warnings():
            # platformdirs warns on every start when XDG_RUNTIME_DIR is unset (containers, CI).
            warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
            import pgserver
    except ImportError:
        raise DatabaseConfigError(
            "DATABASE_URL is not set and the embedded PostgreSQL is not installed: "
            "set DATABASE_URL=postgresql+asyncpg://user:pass@host:5432/db "
            "or install it with pip install 'llma[embedded]'"
        ) from None
    return pgserver


def start_embedded_postgres(
    data_dir: Path, *, cleanup_mode: str | None = "stop"
) -> tuple[Any, str]:
    """Start (or join) the server under `data_dir/pg`; return it and an asyncpg URL.

    pgserver reference-counts the processes using one data directory and stops the server
    when the last of them exits (`cleanup_mode="stop"`), so Ctrl-C on `llma serve` stops
    PostgreSQL too.
    """
    pgserver = _import_pgserver()
    pgdata = (data_dir / "pg").resolve()
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
        server = pgserver.get_server(str(pgdata), cleanup_mode=cleanup_mode)
    url = f"postgresql+asyncpg://postgres@/postgres?host={pgdata}"
    logger.info("embedded PostgreSQL running in %s", pgdata)
    return server, url


_started: dict[Path, tuple[Any, str]] = {}


def resolve_database_url(settings: Any) -> str:
    """DATABASE_URL when set; otherwise the embedded server under DATA_DIR (started once).

    Production never falls back to the embedded server: a missing DATABASE_URL stops start-up.
    """
    if settings.database_url:
        return str(settings.database_url)
    if settings.is_production:
        raise DatabaseConfigError(
            "DATABASE_URL is required when APP_ENV=production "
            "(the embedded PostgreSQL is for development only)"
        )
    data_dir = Path(settings.data_dir).resolve()
    if data_dir not in _started:
        _started[data_dir] = start_embedded_postgres(data_dir)
    return _started[data_dir][1]
