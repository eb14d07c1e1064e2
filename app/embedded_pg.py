"""The embedded PostgreSQL (the `pgserver` package) used when DATABASE_URL is unset."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

logger = logging.getLogger("app.embedded_pg")


def start_embedded_postgres(
    data_dir: Path, *, cleanup_mode: str | None = "stop"
) -> tuple[Any, str]:
    """Start (or join) the server under `data_dir/pg`; return it and an asyncpg URL.

    pgserver reference-counts the processes using one data directory and stops the server
    when the last of them exits (`cleanup_mode="stop"`), so Ctrl-C on `llma serve` stops
    PostgreSQL too.
    """
    import pgserver

    pgdata = (data_dir / "pg").resolve()
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    server = pgserver.get_server(str(pgdata), cleanup_mode=cleanup_mode)  # type: ignore[attr-defined]
    url = f"postgresql+asyncpg://postgres@/postgres?host={pgdata}"
    logger.info("embedded PostgreSQL running in %s", pgdata)
    return server, url


_started: dict[Path, tuple[Any, str]] = {}


def resolve_database_url(settings: Any) -> str:
    """DATABASE_URL when set; otherwise the embedded server under DATA_DIR (started once)."""
    if settings.database_url:
        return str(settings.database_url)
    data_dir = Path(settings.data_dir).resolve()
    if data_dir not in _started:
        _started[data_dir] = start_embedded_postgres(data_dir)
    return _started[data_dir][1]
