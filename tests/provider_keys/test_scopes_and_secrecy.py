"""Scope checks on every endpoint, and a planted secret that must never come back out: not in
any response body (failures included) and not in any log record."""

from __future__ import annotations

import logging

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from tests.factories import Identity, add_key, bearer
from tests.provider_keys.conftest import ECHO_KEY, FakeProviders, base_path, create_key

PLANTED = "sk-proj-PLANTED-SECRET-7f3a9c2e1b0d4e5f"
PLANTED_TOO = "sk-proj-SECOND-PLANTED-SECRET-99aa77bb"


def endpoints(team_id: int, key_id: str) -> list[tuple[str, str, str, dict[str, object] | None]]:
    """(scope kind, method, path, json body) for every provider-key endpoint."""
    base = base_path(team_id)
    return [
        ("read", "GET", f"{base}/provider_keys/", None),
        ("write", "POST", f"{base}/provider_keys/", {"provider": "openai", "name": "n"}),
        ("read", "GET", f"{base}/provider_keys/{key_id}/", None),
        ("write", "PATCH", f"{base}/provider_keys/{key_id}/", {"name": "n"}),
        ("write", "DELETE", f"{base}/provider_keys/{key_id}/", None),
        ("write", "POST", f"{base}/provider_keys/{key_id}/validate/", None),
        ("write", "POST", f"{base}/provider_key_validations/", {}),
        ("read", "GET", f"{base}/models/?provider=openai", None),
        ("read", "GET", f"{base}/evaluation_config/", None),
        ("write", "POST", f"{base}/evaluation_config/set_active_key/", {}),
        ("write", "PUT", f"{base}/provider_keys/{key_id}/", {}),
    ]


@pytest.mark.parametrize(
    "scopes",
    [
        ("llm_provider_key:read",),
        ("llm_provider_key:write",),
        ("dataset:read", "dataset:write", "llm_analytics:write", "evaluation:write"),
    ],
)
async def test_scopes(
    api: httpx.AsyncClient, identity: Identity, session: AsyncSession, scopes: tuple[str, ...]
) -> None:
    key = await create_key(api, identity.team.id)
    limited = bearer(await add_key(session, identity, scopes=scopes))
    await session.commit()
    for kind, method, path, body in endpoints(identity.team.id, key["id"]):
        if method == "DELETE":
            continue  # run last, below
        response = await api.request(method, path, json=body, headers=limited)
        allowed = f"llm_provider_key:{kind}" in scopes or "llm_provider_key:write" in scopes
        if allowed:
            assert response.status_code not in (401, 403), (method, path, response.text)
        else:
            assert response.status_code == 403, (method, path, response.text)
            assert response.json()["detail"] == (
                f"API key missing required scope 'llm_provider_key:{kind}'"
            )
    unknown = f"{base_path(identity.team.id)}/provider_keys/0190c8a0-0000-7000-8000-000000000000/"
    deleted = await api.delete(unknown, headers=limited)
    assert deleted.status_code == (404 if "llm_provider_key:write" in scopes else 403)


async def test_unauthenticated_and_foreign_team(
    app: object,
    api: httpx.AsyncClient,
    other_api: httpx.AsyncClient,
    identity: Identity,
) -> None:
    key = await create_key(api, identity.team.id)
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as anonymous:
        for _, method, path, body in endpoints(identity.team.id, key["id"]):
            assert (await anonymous.request(method, path, json=body)).status_code == 401
            wrong = await anonymous.request(method, path, json=body, headers=bearer("phx_nope"))
            assert wrong.status_code == 401
            foreign = await other_api.request(method, path, json=body)
            assert foreign.status_code == 403, (method, path)
    missing_team = await api.get(f"{base_path(2_000_000_000)}/provider_keys/")
    assert missing_team.status_code == 404


async def test_a_planted_secret_never_leaves(
    app: object,
    api: httpx.AsyncClient,
    identity: Identity,
    fake: FakeProviders,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    base = base_path(identity.team.id)
    bodies: list[str] = []

    async def call(method: str, path: str, **kwargs: object) -> httpx.Response:
        response = await api.request(method, path, **kwargs)  # type: ignore[arg-type]
        bodies.append(response.text)
        assert response.status_code < 500 or response.status_code == 502, response.text
        return response

    new = {"provider": "openai", "name": "Planted", "api_key": PLANTED}
    # Failures first: the provider echoes the key back in its error.
    for status in (400, 401, 404, 429, 500):
        fake.fail(status, ECHO_KEY)
        assert (await call("POST", f"{base}/provider_keys/", json=new)).status_code == 400
        await call("POST", f"{base}/provider_key_validations/", json=new)
    await call("POST", f"{base}/provider_keys/", json={**new, "provider": "anthropic"})
    await call("POST", f"{base}/provider_keys/", data={**new, "name": ""})

    fake.fail(200)
    created = await call("POST", f"{base}/provider_keys/", json={**new, "set_as_active": True})
    key_url = f"{base}/provider_keys/{created.json()['id']}/"
    await call("POST", f"{base}/provider_key_validations/", json=new)
    await call("GET", f"{base}/provider_keys/")
    await call("GET", key_url)
    await call("GET", f"{base}/evaluation_config/")
    await call("GET", f"{base}/models/?provider=openai&key_id={created.json()['id']}")
    await call("PATCH", key_url, json={"name": "Renamed"})
    for status in (400, 401, 503):
        fake.fail(status, ECHO_KEY)
        await call("PATCH", key_url, json={"api_key": PLANTED_TOO})
        await call("POST", f"{key_url}validate/")
        await call("PATCH", key_url, json={"name": "again"})  # drops the model cache
        await call("GET", f"{base}/models/?provider=openai&key_id={created.json()['id']}")
    fake.raise_(httpx.ConnectError)
    await call("POST", f"{key_url}validate/")
    await call(
        "POST", f"{base}/evaluation_config/set_active_key/", json={"key_id": created.json()["id"]}
    )
    await call("DELETE", key_url)

    assert len(bodies) > 30
    assert any('"detail"' in body for body in bodies)
    assert any("sk-p...4e5f" in body for body in bodies)
    assert any("[redacted]" in body for body in bodies)  # the echoed key was really scrubbed
    for body in bodies:
        assert PLANTED not in body
        assert PLANTED_TOO not in body
    assert caplog.records
    for record in caplog.records:
        text = " ".join([record.getMessage(), str(record.args), record.exc_text or ""])
        assert PLANTED not in text
        assert PLANTED_TOO not in text
    # The provider really did receive it (so the test planted it where it mattered).
    assert any(r.headers.get("authorization") == f"Bearer {PLANTED}" for r in fake.requests)
