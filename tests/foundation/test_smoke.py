from __future__ import annotations

import httpx

from tests.factories import Identity


async def test_create_and_list(api: httpx.AsyncClient, identity: Identity) -> None:
    response = await api.post(f"/api/environments/{identity.team.id}/probes/", json={"name": "a"})
    assert response.status_code == 201, response.text
    assert response.json() == {"name": "a", "size": 0, "team": identity.team.id}
    response = await api.get(f"/api/projects/{identity.team.id}/probes?limit=3")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["count"] == 7
    assert body["results"] == [0, 1, 2]
