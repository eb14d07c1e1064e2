"""Personal API keys can be listed, revoked and expired (`llma list-api-keys`,
`llma revoke-api-key`, `--expires-in-days` / `--expires-at`); a revoked or expired key gets 401
at once, and `create-api-key` refuses teams its user cannot reach instead of minting a useless
key. The CLI runs in a subprocess against the session database (real commits)."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

import httpx
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.repository import IdentityRepository
from app.models import PersonalAPIKey
from tests.factories import Identity, bearer
from tests.foundation.test_cli import llma


def _email() -> str:
    return f"keys-{uuid.uuid4().hex[:10]}@example.com"


def _json(done: Any) -> Any:
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 1, done.stdout
    return json.loads(lines[0])


def _errors(stderr: str) -> list[str]:
    """Everything a one-shot command wrote to stderr: a failure is one `llma: error:` line."""
    return stderr.splitlines()


def _probes(team_id: int) -> str:
    return f"/api/environments/{team_id}/probes/"


async def test_list_and_revoke(database_url: str, client: httpx.AsyncClient) -> None:
    email = _email()
    boot = _json(llma("bootstrap", "--email", email, "--json", database_url=database_url))
    created = _json(
        llma(
            *["create-api-key", "--email", email, "--scopes", "dataset:read"],
            *["--team-ids", str(boot["team_id"]), "--label", "CI", "--expires-in-days", "30"],
            "--json",
            database_url=database_url,
        )
    )
    listed = _json(llma("list-api-keys", "--email", email, "--json", database_url=database_url))
    keys = listed["api_keys"]
    assert [key["label"] for key in keys] == ["Personal API key", "CI"]
    first, second = keys
    assert set(first) == {
        *("id", "label", "mask", "scopes", "teams", "email", "created_at"),
        *("last_used_at", "expires_at", "revoked"),
    }
    assert second["id"] == created["id"]
    assert (second["scopes"], second["teams"], second["revoked"]) == (
        ["dataset:read"],
        [boot["team_id"]],
        False,
    )
    expires = dt.datetime.fromisoformat(second["expires_at"])
    assert dt.timedelta(days=29) < expires - dt.datetime.now(dt.UTC) <= dt.timedelta(days=30)
    assert (first["expires_at"], first["last_used_at"], first["teams"]) == (None, None, None)
    assert first["mask"] == f"{boot['api_key'][:4]}...{boot['api_key'][-4:]}"
    assert boot["api_key"] not in json.dumps(listed)

    # A twin of the first key (same user and scopes) shows what revocation alone changes. (No
    # request before the revocation: the test's transaction would hold the key row's lock.)
    twin = _json(llma("create-api-key", "--email", email, "--json", database_url=database_url))
    revoked = _json(llma("revoke-api-key", first["id"], "--json", database_url=database_url))
    assert revoked == {"id": first["id"], "revoked": True}
    after = await client.get(_probes(boot["team_id"]), headers=bearer(boot["api_key"]))
    assert after.status_code == 401
    assert after.json()["type"] == "authentication_error"
    twin_response = await client.get(_probes(boot["team_id"]), headers=bearer(twin["api_key"]))
    assert twin_response.status_code == 200

    plain = llma("list-api-keys", "--email", email, database_url=database_url)
    assert plain.returncode == 0, plain.stderr
    lines = plain.stdout.splitlines()
    assert len(lines) == 3
    assert lines[0].startswith(f"{first['id']}  {first['mask']}  revoked  ")
    assert lines[1].startswith(f"{second['id']}  {second['mask']}  active  ")
    # Revoking twice is fine; an unknown id fails on one line; a malformed one is a usage error.
    assert llma("revoke-api-key", first["id"], database_url=database_url).returncode == 0
    unknown = llma("revoke-api-key", str(uuid.uuid4()), database_url=database_url)
    assert unknown.returncode == 1
    assert _errors(unknown.stderr) == [
        f"llma: error: no API key with id {unknown.args[-1]} (llma list-api-keys shows them)"
    ]
    assert llma("revoke-api-key", "nope", database_url=database_url).returncode == 2


async def test_keys_for_unreachable_teams_are_refused(database_url: str) -> None:
    email, stranger = _email(), _email()
    mine = _json(llma("bootstrap", "--email", email, "--json", database_url=database_url))
    theirs = _json(llma("bootstrap", "--email", stranger, "--json", database_url=database_url))
    for team_ids in ("999999", str(theirs["team_id"]), f"{mine['team_id']},{theirs['team_id']}"):
        refused = llma(
            "create-api-key", "--email", email, "--team-ids", team_ids, database_url=database_url
        )
        assert refused.returncode == 1, team_ids
        (error,) = _errors(refused.stderr)
        assert error.startswith("llma: error: no team ")
        assert error.endswith("; no key created")
        assert refused.stdout == ""
    listed = _json(llma("list-api-keys", "--email", email, "--json", database_url=database_url))
    assert len(listed["api_keys"]) == 1  # only bootstrap's key
    allowed = llma(
        *["create-api-key", "--email", email, "--team-ids", str(mine["team_id"])],
        database_url=database_url,
    )
    assert allowed.returncode == 0, allowed.stderr


async def test_expiry_options(database_url: str) -> None:
    email = _email()
    later = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=2)).replace(microsecond=0)
    _json(
        llma(
            *["bootstrap", "--email", email, "--expires-at", later.isoformat(), "--json"],
            database_url=database_url,
        )
    )
    listed = _json(llma("list-api-keys", "--email", email, "--json", database_url=database_url))
    assert dt.datetime.fromisoformat(listed["api_keys"][0]["expires_at"]) == later
    past = llma(
        *["create-api-key", "--email", email, "--expires-at", "2020-01-01T00:00:00"],
        database_url=database_url,
    )
    assert past.returncode == 2
    assert "future" in past.stderr
    both = llma(
        *["create-api-key", "--email", email, "--expires-at", later.isoformat()],
        *["--expires-in-days", "3"],
        database_url=database_url,
    )
    assert both.returncode == 2
    assert (
        llma(
            "create-api-key", "--email", email, "--expires-in-days", "0", database_url=database_url
        ).returncode
        == 2
    )


async def test_expired_and_revoked_keys_are_401(
    client: httpx.AsyncClient, identity: Identity, session: AsyncSession
) -> None:
    repo = IdentityRepository(session)
    now = dt.datetime.now(dt.UTC)
    _, expired_secret = await repo.create_key(
        identity.user, scopes=["*"], expires_at=now - dt.timedelta(seconds=1)
    )
    _, valid_secret = await repo.create_key(
        identity.user, scopes=["*"], expires_at=now + dt.timedelta(days=1)
    )
    await session.commit()
    url = _probes(identity.team.id)
    assert (await client.get(url, headers=bearer(expired_secret))).status_code == 401
    assert (await client.get(url, headers=bearer(valid_secret))).status_code == 200
    assert (await client.get(url, headers=bearer(identity.api_key))).status_code == 200

    # Revocation takes effect on the very next request.
    await session.execute(
        update(PersonalAPIKey)
        .where(PersonalAPIKey.user_id == identity.user.id)
        .values(revoked_at=dt.datetime.now(dt.UTC))
    )
    await session.commit()
    for secret in (valid_secret, identity.api_key):
        assert (await client.get(url, headers=bearer(secret))).status_code == 401
