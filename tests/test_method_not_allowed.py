"""405s: a JSON error with `Allow` on every endpoint, except SPEC §4's empty hard-delete refusals.

The method is refused after authentication, scope and team, but before the query is checked.
"""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from tests.factories import Identity, add_key, bearer

SOME_ID = "01890000-0000-7000-8000-000000000000"

# (method, path under /api/environments/{team}/, the Allow header)
REFUSED = [
    ("PUT", "datasets/", "GET, POST"),
    ("DELETE", "datasets/", "GET, POST"),
    ("PUT", f"datasets/{SOME_ID}/", "GET, PATCH"),
    ("PUT", "dataset_items/", "GET, POST"),
    ("PUT", f"dataset_items/{SOME_ID}/", "GET, PATCH"),
    ("PATCH", "llm_analytics/provider_keys/", "GET, POST"),
    ("PUT", f"llm_analytics/provider_keys/{SOME_ID}/", "GET, PATCH, DELETE"),
    ("GET", f"llm_analytics/provider_keys/{SOME_ID}/validate/", "POST"),
    ("GET", "llm_analytics/provider_key_validations/", "POST"),
    ("DELETE", "llm_analytics/evaluation_config/", "GET"),
    ("GET", "llm_analytics/evaluation_config/set_active_key/", "POST"),
    ("PUT", "llm_analytics/models/", "GET"),
    ("PATCH", "evaluations/", "GET, POST"),
    ("PUT", f"evaluations/{SOME_ID}/", "GET, PATCH"),
    ("DELETE", f"evaluations/{SOME_ID}/runs/", "GET, POST"),
    ("DELETE", "llm_analytics/evaluation_summary/", "POST"),
    ("HEAD", "llm_analytics/evaluation_summary/", "POST"),
]
# SPEC §4: hard delete answers 405 with an empty body.
HARD_DELETES = [
    (f"datasets/{SOME_ID}/", "GET, PATCH"),
    (f"dataset_items/{SOME_ID}/", "GET, PATCH"),
    (f"evaluations/{SOME_ID}/", "GET, PATCH"),
]


@pytest.mark.parametrize(("method", "path", "allow"), REFUSED)
async def test_405_is_a_json_error_with_allow(
    api: httpx.AsyncClient, identity: Identity, method: str, path: str, allow: str
) -> None:
    url = f"/api/environments/{identity.team.id}/{path}"
    response = await api.request(method, url, json={} if method != "HEAD" else None)
    assert response.status_code == 405, response.text
    assert response.headers["allow"] == allow
    if method == "HEAD":
        return  # no body on HEAD, whatever the status
    body = response.json()
    expected = {
        "type": "invalid_request",
        "code": "method_not_allowed",
        "detail": f'Method "{method}" not allowed.',
        "attr": None,
    }
    if "evaluation_summary" in path:
        expected["error"] = expected["detail"]  # SPEC §5.8
    assert body == expected


@pytest.mark.parametrize(("path", "allow"), HARD_DELETES)
async def test_hard_delete_is_an_empty_405_with_allow(
    api: httpx.AsyncClient, identity: Identity, path: str, allow: str
) -> None:
    response = await api.delete(f"/api/environments/{identity.team.id}/{path}")
    assert response.status_code == 405
    assert response.content == b""
    assert response.headers["allow"] == allow


async def test_method_is_checked_before_the_query(
    api: httpx.AsyncClient, identity: Identity
) -> None:
    team = identity.team.id
    response = await api.put(f"/api/environments/{team}/llm_analytics/models/?provider=openai")
    assert response.status_code == 405, response.text
    assert response.json()["code"] == "method_not_allowed"
    # Unknown parameters, too: the method decides first.
    response = await api.put(f"/api/environments/{team}/datasets/?nonsense=1&limit=x")
    assert response.status_code == 405, response.text
    response = await api.delete(f"/api/environments/{team}/datasets/{SOME_ID}/?nonsense=1")
    assert (response.status_code, response.content) == (405, b"")


async def test_405_comes_after_auth_scope_and_team(
    client: httpx.AsyncClient, session: AsyncSession, identity: Identity, other: Identity
) -> None:
    reader = bearer(await add_key(session, identity, scopes=["dataset:read"]))
    await session.commit()
    url = f"/api/environments/{identity.team.id}/datasets/"
    assert (await client.put(url)).status_code == 401
    assert (await client.put(url, headers=reader)).status_code == 403
    foreign = f"/api/environments/{other.team.id}/datasets/"
    assert (await client.put(foreign, headers=identity.headers)).status_code == 403
    missing = "/api/environments/999999/datasets/"
    assert (await client.put(missing, headers=identity.headers)).status_code == 404


async def test_summary_413_carries_error(api: httpx.AsyncClient, identity: Identity) -> None:
    url = f"/api/environments/{identity.team.id}/llm_analytics/evaluation_summary/"
    big = b'{"evaluation_id": "' + b"x" * (11 * 1024 * 1024) + b'"}'
    # Declared too large: answered by the middleware before routing.
    response = await api.post(url, content=big, headers={"content-type": "application/json"})
    assert response.status_code == 413
    body = response.json()
    assert body["code"] == "payload_too_large"
    assert body["error"] == body["detail"]

    # Streamed without a length: found too large while the route reads it.
    async def chunks() -> object:
        for start in range(0, len(big), 1024 * 1024):
            yield big[start : start + 1024 * 1024]

    response = await api.post(url, content=chunks(), headers={"content-type": "application/json"})
    assert response.status_code == 413, response.text
    body = response.json()
    assert body["error"] == body["detail"]
    # Other endpoints keep the plain error shape.
    response = await api.post(f"/api/environments/{identity.team.id}/datasets/", content=chunks())
    assert response.status_code == 413
    assert "error" not in response.json()


async def test_unknown_method_is_a_json_405(api: httpx.AsyncClient, identity: Identity) -> None:
    response = await api.request("TRACE", f"/api/environments/{identity.team.id}/datasets/")
    assert response.status_code == 405
    assert response.json()["detail"] == 'Method "TRACE" not allowed.'
    assert response.headers["allow"] == "GET, POST"
    one = f"/api/environments/{identity.team.id}/datasets/{SOME_ID}"
    response = await api.request("TRACE", one)
    assert response.headers["allow"] == "GET, PATCH"
