"""Provider-key objects carry `base_url` / `azure_endpoint` / `api_version` only where they have
a value (PostHog's client types them as optional strings, never null), in every response that
holds a key; the `_display` fields are always there (null for non-Azure keys)."""

from __future__ import annotations

from typing import Any

import httpx

from tests.factories import Identity
from tests.provider_keys.conftest import base_path, create_key

OPTIONAL = ("base_url", "azure_endpoint", "api_version")


async def _every_rendering(
    api: httpx.AsyncClient, team_id: int, key_id: str
) -> list[dict[str, Any]]:
    base = base_path(team_id)
    url = f"{base}/provider_keys/{key_id}/"
    listed = (await api.get(f"{base}/provider_keys/")).json()["results"]
    patched = await api.patch(url, json={"name": "renamed"})
    validated = await api.post(f"{url}validate/")
    activated = await api.post(f"{base}/evaluation_config/set_active_key/", json={"key_id": key_id})
    config = await api.get(f"{base}/evaluation_config/")
    for response in (patched, validated, activated, config):
        assert response.status_code == 200, response.text
    return [
        next(key for key in listed if key["id"] == key_id),
        (await api.get(url)).json(),
        patched.json(),
        validated.json(),
        activated.json()["active_provider_key"],
        config.json()["active_provider_key"],
    ]


async def test_hosted_provider_keys_omit_connection_fields(
    api: httpx.AsyncClient, identity: Identity
) -> None:
    created = await create_key(api, identity.team.id)
    renderings = [created, *await _every_rendering(api, identity.team.id, created["id"])]
    for key in renderings:
        assert not set(OPTIONAL) & set(key), key
        assert key["azure_endpoint_display"] is None
        assert key["api_version_display"] is None


async def test_keys_carry_the_fields_they_have(api: httpx.AsyncClient, identity: Identity) -> None:
    azure = await create_key(
        api,
        identity.team.id,
        provider="azure_openai",
        api_key="azure-secret-123456",
        azure_endpoint="https://myres.openai.azure.com",
    )
    for key in [azure, *await _every_rendering(api, identity.team.id, azure["id"])]:
        assert "base_url" not in key
        assert key["azure_endpoint"] == key["azure_endpoint_display"]
        assert key["api_version"] == key["api_version_display"] == "2024-10-21"
    local = await create_key(
        api, identity.team.id, provider="openai_compatible", api_key="x", base_url="http://h:1/v1"
    )
    for key in [local, *await _every_rendering(api, identity.team.id, local["id"])]:
        assert key["base_url"] == "http://h:1/v1"
        assert "azure_endpoint" not in key
        assert "api_version" not in key


async def test_schema_types_them_as_optional_strings(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/api/schema/")).json()["components"]["schemas"]["ProviderKeyRead"]
    for name in OPTIONAL:
        assert schema["properties"][name]["type"] == "string"
        assert "anyOf" not in schema["properties"][name]
        assert "default" not in schema["properties"][name]
        assert name not in schema["required"]
    for name in ("azure_endpoint_display", "api_version_display"):
        assert name in schema["required"]
        assert {"type": "null"} in schema["properties"][name]["anyOf"]
