"""SPEC §3: keys, scopes, team resolution and the order of the checks."""

from __future__ import annotations

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import keys
from app.models import PersonalAPIKey
from tests.factories import Identity, add_key, bearer, make_identity


def probes(team: object) -> str:
    return f"/api/environments/{team}/probes/"


async def test_missing_key_is_401(client: httpx.AsyncClient, identity: Identity) -> None:
    response = await client.get(probes(identity.team.id))
    assert response.status_code == 401
    assert response.json() == {
        "type": "authentication_error",
        "code": "not_authenticated",
        "detail": "Authentication credentials were not provided.",
        "attr": None,
    }


async def test_unknown_key_is_401(client: httpx.AsyncClient, identity: Identity) -> None:
    response = await client.get(probes(identity.team.id), headers=bearer("phx_" + "x" * 43))
    assert response.status_code == 401
    assert response.json()["type"] == "authentication_error"


async def test_non_bearer_scheme_is_401(client: httpx.AsyncClient, identity: Identity) -> None:
    response = await client.get(
        probes(identity.team.id), headers={"Authorization": f"Token {identity.api_key}"}
    )
    assert response.status_code == 401


async def test_missing_scope_is_403_with_spec_detail(
    client: httpx.AsyncClient, session: AsyncSession, identity: Identity
) -> None:
    key = await add_key(session, identity, scopes=["llm_provider_key:read"])
    response = await client.get(probes(identity.team.id), headers=bearer(key))
    assert response.status_code == 403
    assert response.json()["detail"] == "API key missing required scope 'dataset:read'"
    assert response.json()["type"] == "authentication_error"


async def test_read_key_cannot_write(
    client: httpx.AsyncClient, session: AsyncSession, identity: Identity
) -> None:
    key = await add_key(session, identity, scopes=["dataset:read"])
    response = await client.post(probes(identity.team.id), json={"name": "x"}, headers=bearer(key))
    assert response.status_code == 403
    assert response.json()["detail"] == "API key missing required scope 'dataset:write'"


async def test_write_implies_read(
    client: httpx.AsyncClient, session: AsyncSession, identity: Identity
) -> None:
    key = await add_key(session, identity, scopes=["dataset:write"])
    response = await client.get(probes(identity.team.id), headers=bearer(key))
    assert response.status_code == 200


async def test_star_scope_allows_everything(api: httpx.AsyncClient, identity: Identity) -> None:
    assert (await api.get(probes(identity.team.id))).status_code == 200
    assert (await api.post(probes(identity.team.id), json={"name": "x"})).status_code == 201


async def test_unknown_team_is_404(api: httpx.AsyncClient) -> None:
    response = await api.get(probes(2_000_000_000))
    assert response.status_code == 404
    assert response.json()["type"] == "invalid_request"
    assert (await api.get(probes("not-a-team"))).status_code == 404


async def test_foreign_team_is_403(
    api: httpx.AsyncClient, session: AsyncSession, identity: Identity
) -> None:
    other = await make_identity(session)
    response = await api.get(probes(other.team.id))
    assert response.status_code == 403
    assert response.json()["type"] == "authentication_error"


async def test_scope_is_checked_before_team(
    client: httpx.AsyncClient, session: AsyncSession, identity: Identity
) -> None:
    key = await add_key(session, identity, scopes=["evaluation:read"])
    response = await client.get(probes(2_000_000_000), headers=bearer(key))
    assert response.status_code == 403


async def test_current_team_alias(api: httpx.AsyncClient, identity: Identity) -> None:
    response = await api.post(probes("@current"), json={"name": "x"})
    assert response.status_code == 201
    assert response.json()["team"] == identity.team.id


async def test_scoped_teams_limit_the_key(
    client: httpx.AsyncClient, session: AsyncSession, identity: Identity
) -> None:
    from app.auth.repository import IdentityRepository

    repo = IdentityRepository(session)
    second = await repo.create_team(identity.organization, "Second")
    key = await add_key(session, identity, scopes=["*"], scoped_teams=[identity.team.id])
    assert (await client.get(probes(identity.team.id), headers=bearer(key))).status_code == 200
    response = await client.get(probes(second.id), headers=bearer(key))
    assert response.status_code == 403
    # Without the restriction the same user reaches the second team.
    unrestricted = await add_key(session, identity, scopes=["*"])
    assert (await client.get(probes(second.id), headers=bearer(unrestricted))).status_code == 200


async def test_last_used_at_is_recorded(
    api: httpx.AsyncClient, session: AsyncSession, identity: Identity
) -> None:
    digest = keys.digest(identity.api_key)
    query = select(PersonalAPIKey.last_used_at).where(PersonalAPIKey.secure_value == digest)
    assert (await session.scalar(query)) is None
    await api.get(probes(identity.team.id))
    first = await session.scalar(query)
    assert first is not None
    await api.get(probes(identity.team.id))
    # Within a minute the timestamp is not rewritten.
    assert await session.scalar(query) == first


async def test_keys_are_stored_as_digests(session: AsyncSession, identity: Identity) -> None:
    stored = (await session.execute(select(PersonalAPIKey))).scalars().all()
    assert identity.api_key.startswith("phx_")
    assert len(identity.api_key) >= 44
    for key in stored:
        assert identity.api_key not in (key.secure_value, key.mask_value)
    assert any(k.secure_value == keys.digest(identity.api_key) for k in stored)
