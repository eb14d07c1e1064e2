"""`llma` end to end in a subprocess: the --json contracts, exit codes, and a key that works."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import httpx
from cryptography.fernet import Fernet

from tests.factories import bearer


def llma(*args: str, database_url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": database_url, "LOG_FORMAT": "json"}
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        capture_output=True,
        text=True,
        env=env,
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
    assert set(payload) == {"organization_id", "team_id", "user_id", "api_key"}
    assert payload["api_key"].startswith("phx_")
    # The CLI committed for real; the app sees it through the test connection.
    response = await client.get(
        f"/api/environments/{payload['team_id']}/probes/", headers=bearer(payload["api_key"])
    )
    assert response.status_code != 401

    # Same email again: the user is reused, a new team becomes @current.
    again = llma(
        "bootstrap",
        "--email",
        "CLI@example.com",
        "--team-name",
        "Second",
        "--json",
        database_url=database_url,
    )
    second = json.loads(again.stdout)
    assert second["user_id"] == payload["user_id"]
    assert second["team_id"] != payload["team_id"]

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


def test_bad_arguments_exit_2(database_url: str) -> None:
    assert llma("bootstrap", database_url=database_url).returncode == 2
    bad_scope = llma(
        "bootstrap", "--email", "x@example.com", "--scopes", "nope:read", database_url=database_url
    )
    assert bad_scope.returncode == 2
    assert "nope:read" in bad_scope.stderr


def test_generate_encryption_key_prints_a_fernet_key(database_url: str) -> None:
    done = llma("generate-encryption-key", database_url=database_url)
    assert done.returncode == 0
    key = done.stdout.strip()
    Fernet(key.encode())  # raises when malformed
