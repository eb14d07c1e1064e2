"""Keys travel in HTTP headers: characters that cannot are refused before any provider call."""

from __future__ import annotations

import httpx
import pytest

from tests.factories import Identity


@pytest.mark.parametrize("bad", ["sk-é-key", "sk-with space", "AIza\u8968", "tab\tkey"])
async def test_unsendable_key_is_400_and_nothing_is_stored(
    api: httpx.AsyncClient, identity: Identity, bad: str
) -> None:
    base = f"/api/environments/{identity.team.id}/llm_analytics"
    response = await api.post(
        f"{base}/provider_keys/", json={"provider": "gemini", "name": "x", "api_key": bad}
    )
    assert response.status_code == 400, response.text
    assert response.json()["attr"] == "api_key"
    assert (await api.get(f"{base}/provider_keys/")).json()["count"] == 0
    check = await api.post(
        f"{base}/provider_key_validations/", json={"provider": "gemini", "api_key": bad}
    )
    assert check.status_code == 201
    assert check.json()["state"] == "invalid"
