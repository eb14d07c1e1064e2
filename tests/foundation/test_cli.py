"""`llma` end to end in a subprocess: the --json contracts, exit codes, and a key that works."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import httpx
import pytest
from cryptography.fernet import Fernet

from app.cli import build_parser
from tests import database
from tests.factories import bearer
from tests.reliability.harness import free_port


def llma(*args: str, database_url: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "DATABASE_URL": database_url, "LOG_FORMAT": "json", **env},
        timeout=120,
        check=False,
    )


async def test_bootstrap_json_key_authenticates(
    database_url: str, client: httpx.AsyncClient
) -> None:
    done = llma("bootstrap", "--email", "cli@example.com", "--json", database_url=database_url)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 1
    payload = json.loads(lines[0])
    assert {"organization_id", "team_id", "user_id", "api_key"} <= set(payload)
    assert payload["reused"] is False
    assert payload["api_key"].startswith("phx_")
    # The CLI committed for real; the app sees it through the test connection.
    response = await client.get(
        f"/api/environments/{payload['team_id']}/probes/", headers=bearer(payload["api_key"])
    )
    assert response.status_code != 401

    created = llma(
        "create-api-key",
        "--email",
        "cli@example.com",
        "--scopes",
        "dataset:read",
        "--json",
        database_url=database_url,
    )
    assert created.returncode == 0, created.stderr
    key = json.loads(created.stdout)
    assert set(key) == {"api_key", "id"}


async def test_bootstrap_twice_keeps_the_team(database_url: str, client: httpx.AsyncClient) -> None:
    first = json.loads(
        llma(
            "bootstrap", "--email", "twice@example.com", "--json", database_url=database_url
        ).stdout
    )
    again = llma(
        "bootstrap",
        "--email",
        "TWICE@example.com",
        "--team-name",
        "Second",
        "--json",
        database_url=database_url,
    )
    assert again.returncode == 0, again.stderr
    second = json.loads(again.stdout)
    assert second["reused"] is True
    assert second["api_key"] != first["api_key"]
    assert [second[k] for k in ("organization_id", "team_id", "user_id")] == [
        first[k] for k in ("organization_id", "team_id", "user_id")
    ]
    # Both keys, the old one included, still write into the same @current team.
    for secret in (first["api_key"], second["api_key"]):
        response = await client.post(
            "/api/environments/@current/probes/", json={"name": "x"}, headers=bearer(secret)
        )
        assert response.status_code == 201, response.text
        assert response.json()["team"] == first["team_id"]

    told = llma("bootstrap", "--email", "twice@example.com", database_url=database_url)
    assert told.returncode == 0, told.stderr
    assert "already exists" in told.stdout
    assert f"team {first['team_id']}," in told.stdout


def test_bootstrap_prints_its_result_and_nothing_else(database_url: str) -> None:
    done = llma("bootstrap", "--email", "quiet@example.com", database_url=database_url)
    assert done.returncode == 0, done.stderr
    assert len(done.stderr.splitlines()) <= 1, done.stderr
    assert "phx_" in done.stdout
    verbose = llma("bootstrap", "-v", "--email", "quiet@example.com", database_url=database_url)
    assert verbose.returncode == 0, verbose.stderr
    assert len(verbose.stderr.splitlines()) >= 1
    for line in verbose.stderr.splitlines():
        record = json.loads(line)
        assert "setup plugin" not in record["message"]


def test_bad_arguments_exit_2(database_url: str) -> None:
    assert llma("bootstrap", database_url=database_url).returncode == 2
    bad_scope = llma(
        "bootstrap", "--email", "x@example.com", "--scopes", "nope:read", database_url=database_url
    )
    assert bad_scope.returncode == 2
    assert "nope:read" in bad_scope.stderr


def test_generate_encryption_key_prints_a_fernet_key() -> None:
    # As in a fresh Compose setup: production, no database and no key configured yet.
    done = llma(
        "generate-encryption-key", database_url="", APP_ENV="production", ENCRYPTION_KEYS=""
    )
    assert done.returncode == 0, done.stderr
    key = done.stdout.strip()
    Fernet(key.encode())  # raises when malformed


def test_without_database_url_or_pgserver_one_line(tmp_path: Path) -> None:
    """The production image has no pgserver: a missing DATABASE_URL says what to do."""
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; sys.modules['pgserver'] = None; "
            "from app.cli import main; sys.exit(main(['migrate']))",
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "DATABASE_URL": "", "APP_ENV": "development", "DATA_DIR": str(tmp_path)},
        timeout=60,
        check=False,
    )
    line = _one_line_error(done)
    assert "DATABASE_URL" in line
    assert "llma[embedded]" in line


def _one_line_error(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode not in (0, 2), (done.returncode, done.stderr)
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("llma: error: ")
    return lines[0]


def test_malformed_encryption_keys_one_line(database_url: str) -> None:
    done = llma("rotate-encryption-keys", database_url=database_url, ENCRYPTION_KEYS="garbage")
    line = _one_line_error(done)
    assert "ENCRYPTION_KEYS" in line
    assert "garbage" not in line


def test_production_serve_without_keys_one_line_and_no_demo_key(database_url: str) -> None:
    port = str(free_port())
    done = llma(
        "serve", "--port", port, database_url=database_url, APP_ENV="production", ENCRYPTION_KEYS=""
    )
    assert "ENCRYPTION_KEYS" in _one_line_error(done)
    assert done.stdout == ""
    assert "phx_" not in done.stderr


def test_unreachable_database_one_line_naming_the_host(database_url: str) -> None:
    unreachable = "postgresql+asyncpg://x@127.0.0.1:1/x"
    line = _one_line_error(llma("migrate", database_url=unreachable))
    assert "127.0.0.1:1" in line
    assert "DATABASE_URL" in line
    debug = llma("migrate", "--debug", database_url=unreachable)
    assert debug.returncode == 1
    assert "Traceback" in debug.stderr
    assert debug.stderr.splitlines()[-1] == line


@pytest.mark.parametrize("command", ["serve", "migrate"])
def test_production_never_starts_the_embedded_database(command: str, tmp_path: Path) -> None:
    done = llma(
        command,
        database_url="",
        APP_ENV="production",
        ENCRYPTION_KEYS=Fernet.generate_key().decode(),
        DATA_DIR=str(tmp_path),
    )
    assert "DATABASE_URL is required when APP_ENV=production" in _one_line_error(done)
    assert list(tmp_path.iterdir()) == []


def test_busy_port_fails_before_printing_or_touching_the_database(server_url: str) -> None:
    url = asyncio.run(database.create_database(server_url, prefix="llma_busy"))
    try:
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = taken.getsockname()[1]
            done = llma("serve", "--port", str(port), database_url=url, APP_ENV="development")
            from_setting = llma("serve", database_url=url, PORT=str(port), HOST="127.0.0.1")
        line = _one_line_error(done)
        assert f"127.0.0.1:{port}" in line
        assert "PORT=" in line
        assert "--port" in line
        assert done.stdout == ""
        assert f"127.0.0.1:{port}" in _one_line_error(from_setting)
        assert from_setting.stdout == ""
        # No migration ran: the database is as empty as it was created.
        assert asyncio.run(_table_count(url)) == 0
    finally:
        asyncio.run(database.drop_database(server_url, url))


async def _table_count(url: str) -> int:
    import asyncpg

    connection = await asyncpg.connect(**database.connect_kwargs(url))
    try:
        count: int = await connection.fetchval(
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
        )
        return count
    finally:
        await connection.close()


def test_version_and_help() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "app.cli", "--version"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0
    assert done.stdout.strip() == f"llma {version('llma')}"
    parser = build_parser()
    subcommands = next(
        action for action in parser._actions if isinstance(action, argparse._SubParsersAction)
    )
    for name, command in subcommands.choices.items():
        for action in command._actions:
            assert action.help, f"llma {name} {action.option_strings} has no help"
    boot_help = subcommands.choices["bootstrap"].format_help()
    assert "llm_provider_key:write" in " ".join(boot_help.split())
    assert "(default: Default project)" in " ".join(boot_help.split())
