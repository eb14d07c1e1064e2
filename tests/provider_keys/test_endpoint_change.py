"""A stored secret only travels to the endpoint it was validated with (SPEC §5.3): moving a key
to another host needs its api_key in the same request. Real servers on loopback record what
arrives; the shared client uses the real network transport."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from tests.factories import Identity, add_key, bearer
from tests.fakes.capture_server import capture_server
from tests.provider_keys.conftest import base_path

SECRET = "stored-secret-0123456789abcdef"


@pytest.fixture
def provider_transport() -> Any:
    return None  # the shared client's own transport: real sockets to the loopback servers


@pytest.mark.parametrize(
    ("provider", "field", "extra"),
    [
        ("openai_compatible", "base_url", {}),
        ("azure_openai", "azure_endpoint", {"api_version": "2024-06-01"}),
    ],
)
async def test_a_moved_endpoint_never_receives_the_stored_secret(
    api: httpx.AsyncClient,
    client: httpx.AsyncClient,
    identity: Identity,
    session: AsyncSession,
    provider: str,
    field: str,
    extra: dict[str, str],
) -> None:
    base = base_path(identity.team.id)
    async with capture_server() as origin, capture_server() as stranger:
        origin_url = origin.base_url if field == "base_url" else origin.base_url[: -len("/v1")]
        stranger_url = (
            stranger.base_url if field == "base_url" else stranger.base_url[: -len("/v1")]
        )
        created = await api.post(
            f"{base}/provider_keys/",
            json={"provider": provider, "name": "k", "api_key": SECRET, field: origin_url, **extra},
        )
        assert created.status_code == 201, created.text
        key_url = f"{base}/provider_keys/{created.json()['id']}/"

        moved = await api.patch(key_url, json={field: stranger_url, "name": "moved"})
        assert (moved.status_code, moved.json()["attr"]) == (400, "api_key")
        kept = (await api.get(key_url)).json()
        assert (kept[field], kept["name"]) == (origin_url, "k")

        # Re-validation and a read-only key's model listing still go to the original host.
        validated = await api.post(f"{key_url}validate/")
        assert (validated.status_code, validated.json()["state"]) == (200, "ok")
        reader = await add_key(session, identity, scopes=["llm_provider_key:read"])
        await session.commit()
        models = await client.get(
            f"{base}/models/?provider={provider}&key_id={created.json()['id']}",
            headers=bearer(reader),
        )
        assert models.status_code == 200, models.text

        # The same endpoint spelt with a trailing slash is no change at all.
        same = await api.patch(key_url, json={field: origin_url + "/"})
        assert same.status_code == 200, same.text

        # With a new key in the same request, the move is allowed and only the new key travels.
        rekeyed = await api.patch(key_url, json={field: stranger_url, "api_key": "new-key-42"})
        assert (rekeyed.status_code, rekeyed.json()["state"]) == (200, "ok")
        await api.post(f"{key_url}validate/")

    assert len(origin.seen) == 3
    assert set(origin.credentials()) <= {f"Bearer {SECRET}", SECRET}
    assert stranger.seen, "the re-keyed validation should have reached the new host"
    assert all(SECRET not in value for value in stranger.credentials())
