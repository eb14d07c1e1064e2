"""Alembic's configuration for the migrations that ship inside the package (package data), so
`llma migrate` and `llma serve` find them wherever the package is installed; no alembic.ini."""

from __future__ import annotations

from pathlib import Path
from typing import Any

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def alembic_config(database_url: str) -> Any:
    """The configuration `alembic.command` functions take, bound to `database_url`."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("path_separator", "os")
    config.attributes["database_url"] = database_url
    config.attributes["configure_logging"] = False
    return config
