"""Evaluations CRUD over HTTP: fields, validation, status, soft delete, isolation and scopes."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import LLMProviderKey
from tests.evaluations.helpers import add_provider_key, create_evaluation, evaluations_url
from tests.factories import Identity, add_key, bearer, make_identity

TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


async def test_create_applies_defaults(api: httpx.AsyncClient, identity: Identity) -> None:
    body = await create_evaluation(api, identity.team.id)
    assert uuid.UUID(body["id"]).version == 7
    assert body["name"] == "Helpfulness"
    assert body["description"] == ""
    assert body["enabled"] is True
    assert (body["status"], body["status_reason"]) == ("active", None)
    assert body["evaluation_type"] == "llm_judge"
    assert body["evaluation_config"] == {"prompt": "Is the answer helpful?"}
    assert body["output_type"] == "boolean"
    assert body["output_config"] == {"allows_na": False}
    assert body["conditions"] == []
    assert body["model_configuration"] is None
    assert body["deleted"] is False
    assert body["created_by"]["id"] == identity.user.id
    assert TIMESTAMP.match(body["created_at"])
    assert TIMESTAMP.match(body["updated_at"])
    fetched = await api.get(evaluations_url(identity.team.id, body["id"]))
    assert fetched.status_code == 200
    assert fetched.json() == body


async def test_paused_and_stored_fields(api: httpx.AsyncClient, identity: Identity) -> None:
    conditions = [{"id": "c1", "rollout_percentage": 50, "properties": []}]
    body = await create_evaluation(
        api,
        identity.team.id,
        enabled=False,
        description="Checks tone",
        conditions=conditions,
        output_config={"allows_na": True},
        status="active",  # read-only: ignored
    )
    assert (body["status"], body["status_reason"]) == ("paused", None)
    assert body["conditions"] == conditions
    assert body["output_config"] == {"allows_na": True}
    assert body["description"] == "Checks tone"


@pytest.mark.parametrize(
    ("change", "attr", "code"),
    [
        ({"name": None}, "name", "required"),
        ({"name": "   "}, "name", "blank"),
        ({"name": "x" * 401}, "name", "max_length"),
        ({"evaluation_config": None}, "evaluation_config", "required"),
        ({"evaluation_config": {"prompt": ""}}, "evaluation_config.prompt", "blank"),
        ({"evaluation_config": {}}, "evaluation_config.prompt", "required"),
        ({"evaluation_type": "hog"}, "evaluation_type", "not_supported"),
        ({"evaluation_type": "regex"}, "evaluation_type", "invalid_choice"),
        ({"output_type": "numeric"}, "output_type", "invalid_choice"),
        ({"output_config": {"allows_na": "perhaps"}}, "output_config.allows_na", "invalid"),
        ({"enabled": "sometimes"}, "enabled", "invalid"),
        (
            {"model_configuration": {"provider": "openai", "model": "m" * 101}},
            "model_configuration.model",
            "max_length",
        ),
        (
            {"model_configuration": {"provider": "acme", "model": "x"}},
            "model_configuration.provider",
            "invalid_choice",
        ),
    ],
)
async def test_create_validation(
    api: httpx.AsyncClient, identity: Identity, change: dict[str, Any], attr: str, code: str
) -> None:
    body: dict[str, Any] = {"name": "E", "evaluation_config": {"prompt": "p"}}
    body.update(change)
    body = {key: value for key, value in body.items() if value is not None}
    response = await api.post(evaluations_url(identity.team.id), json=body)
    assert response.status_code == 400, response.text
    error = response.json()
    assert (error["type"], error["attr"], error["code"]) == ("validation_error", attr, code)
    if code == "not_supported":
        assert "not supported" in error["detail"]
    listed = await api.get(evaluations_url(identity.team.id))
    assert listed.json()["count"] == 0


async def test_create_refuses_null_conditions(api: httpx.AsyncClient, identity: Identity) -> None:
    body = {"name": "E", "evaluation_config": {"prompt": "p"}, "conditions": None}
    response = await api.post(evaluations_url(identity.team.id), json=body)
    assert response.status_code == 400
    assert (response.json()["attr"], response.json()["code"]) == ("conditions", "null")


async def test_model_configuration_key_must_belong_to_team(
    api: httpx.AsyncClient, app: Any, session: AsyncSession, identity: Identity
) -> None:
    key = await add_provider_key(session, app, identity, name="Prod OpenAI")
    body = await create_evaluation(
        api,
        identity.team.id,
        model_configuration={
            "provider": "openai",
            "model": "gpt-4.1-mini",
            "provider_key_id": str(key.id),
            "provider_key_name": "ignored",
        },
    )
    assert body["model_configuration"] == {
        "provider": "openai",
        "model": "gpt-4.1-mini",
        "provider_key_id": str(key.id),
        "provider_key_name": "Prod OpenAI",
    }

    other = await make_identity(session)
    foreign = await add_provider_key(session, app, other)
    for key_id, detail in ((foreign.id, "not found"), (uuid.uuid4(), "not found")):
        response = await api.post(
            evaluations_url(identity.team.id),
            json={
                "name": "E",
                "evaluation_config": {"prompt": "p"},
                "model_configuration": {
                    "provider": "openai",
                    "model": "m",
                    "provider_key_id": str(key_id),
                },
            },
        )
        assert response.status_code == 400
        assert response.json()["attr"] == "model_configuration.provider_key_id"
        assert detail in response.json()["detail"]

    mismatch = await api.post(
        evaluations_url(identity.team.id),
        json={
            "name": "E",
            "evaluation_config": {"prompt": "p"},
            "model_configuration": {
                "provider": "anthropic",
                "model": "m",
                "provider_key_id": str(key.id),
            },
        },
    )
    assert mismatch.status_code == 400
    assert mismatch.json()["attr"] == "model_configuration.provider_key_id"
    listed = await api.get(evaluations_url(identity.team.id))
    assert listed.json()["count"] == 1


async def test_google_alias_and_key_deletion_sets_error_status(
    api: httpx.AsyncClient, app: Any, session: AsyncSession, identity: Identity
) -> None:
    key = await add_provider_key(session, app, identity, provider="gemini", api_key="AIza-key-123")
    body = await create_evaluation(
        api,
        identity.team.id,
        model_configuration={
            "provider": "google",
            "model": "gemini-2.5-flash",
            "provider_key_id": str(key.id),
        },
    )
    assert body["model_configuration"]["provider"] == "gemini"

    await session.execute(delete(LLMProviderKey).where(LLMProviderKey.id == key.id))
    await session.commit()
    fetched = (await api.get(evaluations_url(identity.team.id, body["id"]))).json()
    assert (fetched["status"], fetched["status_reason"]) == ("error", "provider_key_deleted")
    assert fetched["model_configuration"]["provider_key_id"] is None
    assert fetched["model_configuration"]["provider_key_name"] is None

    # Choosing a configuration without a key clears the error.
    patched = await api.patch(
        evaluations_url(identity.team.id, body["id"]),
        json={"model_configuration": {"provider": "gemini", "model": "gemini-2.5-flash"}},
    )
    assert patched.status_code == 200
    assert (patched.json()["status"], patched.json()["status_reason"]) == ("active", None)


async def test_list_newest_first_paginated_and_filtered(
    api: httpx.AsyncClient, identity: Identity
) -> None:
    team = identity.team.id
    ids = [(await create_evaluation(api, team, name=f"Eval {i}"))["id"] for i in range(3)]
    paused = await create_evaluation(api, team, name="Tone check", enabled=False)

    body = (await api.get(evaluations_url(team), params={"limit": 2})).json()
    assert body["count"] == 4
    assert [row["id"] for row in body["results"]] == [paused["id"], ids[2]]
    assert body["next"].endswith(f"/api/environments/{team}/evaluations/?limit=2&offset=2")
    assert body["previous"] is None

    search = (await api.get(evaluations_url(team), params={"search": "TONE"})).json()
    assert [row["id"] for row in search["results"]] == [paused["id"]]
    enabled = (await api.get(evaluations_url(team), params={"enabled": "false"})).json()
    assert [row["id"] for row in enabled["results"]] == [paused["id"]]
    by_id = (await api.get(evaluations_url(team), params={"id__in": f"{ids[0]},{ids[1]}"})).json()
    assert {row["id"] for row in by_id["results"]} == {ids[0], ids[1]}
    by_name = (await api.get(evaluations_url(team), params={"order_by": "name"})).json()
    assert [row["name"] for row in by_name["results"]] == [
        "Eval 0",
        "Eval 1",
        "Eval 2",
        "Tone check",
    ]

    for params, attr in (
        ({"order_by": "team"}, "order_by"),
        ({"id__in": "nope"}, "id__in"),
        ({"enabled": "maybe"}, "enabled"),
        ({"limit": "-1"}, "limit"),
        ({"offset": "9" * 30}, "offset"),
        ({"name": "x"}, "name"),
    ):
        response = await api.get(evaluations_url(team), params=params)
        assert response.status_code == 400, params
        assert response.json()["attr"] == attr


async def test_soft_delete_and_restore(api: httpx.AsyncClient, identity: Identity) -> None:
    team = identity.team.id
    body = await create_evaluation(api, team)
    url = evaluations_url(team, body["id"])

    hard = await api.delete(url)
    assert hard.status_code == 405
    assert hard.content == b""
    assert (await api.put(url, json={"name": "x"})).status_code == 405

    deleted = await api.patch(url, json={"deleted": True})
    assert deleted.status_code == 200
    assert deleted.json()["deleted"] is True
    assert (await api.get(url)).status_code == 404
    assert (await api.get(evaluations_url(team))).json()["count"] == 0

    renamed = await api.patch(url, json={"name": "Renamed"})
    assert renamed.status_code == 200
    assert renamed.json()["deleted"] is True  # a PATCH without `deleted` keeps it deleted
    restored = await api.patch(url, json={"deleted": False})
    assert restored.json()["deleted"] is False
    fetched = await api.get(url)
    assert fetched.status_code == 200
    assert fetched.json()["name"] == "Renamed"


async def test_patch_validation_changes_nothing(api: httpx.AsyncClient, identity: Identity) -> None:
    body = await create_evaluation(api, identity.team.id)
    url = evaluations_url(identity.team.id, body["id"])
    for change, attr in (
        ({"name": None}, "name"),
        ({"enabled": None}, "enabled"),
        ({"evaluation_type": "hog"}, "evaluation_type"),
        ({"evaluation_config": {"prompt": " "}}, "evaluation_config.prompt"),
        ({"conditions": None}, "conditions"),
    ):
        response = await api.patch(url, json={**change, "description": "changed"})
        assert response.status_code == 400, change
        assert response.json()["attr"] == attr
    assert (await api.get(url)).json() == body

    defaults = await api.patch(url, json={"output_config": {}, "conditions": {"any": ["json"]}})
    assert defaults.json()["output_config"] == {"allows_na": False}
    assert defaults.json()["conditions"] == {"any": ["json"]}
    paused = await api.patch(
        url, json={"enabled": False, "status": "active", "id": str(uuid.uuid4())}
    )
    assert paused.status_code == 200
    assert paused.json()["status"] == "paused"
    assert paused.json()["id"] == body["id"]
    assert paused.json()["updated_at"] > body["updated_at"]


async def test_other_team_evaluations_are_invisible(
    api: httpx.AsyncClient, client: httpx.AsyncClient, session: AsyncSession, identity: Identity
) -> None:
    other = await make_identity(session)
    await session.commit()
    response = await client.post(
        evaluations_url(other.team.id),
        json={"name": "Theirs", "evaluation_config": {"prompt": "p"}},
        headers=other.headers,
    )
    foreign_id = response.json()["id"]
    url = evaluations_url(identity.team.id, foreign_id)
    assert (await api.get(url)).status_code == 404
    assert (await api.patch(url, json={"name": "mine"})).status_code == 404
    assert (await api.get(evaluations_url(identity.team.id))).json()["count"] == 0
    assert (await api.get(evaluations_url(identity.team.id, "not-a-uuid"))).status_code == 404
    # Their team through our key: 403 (a team we cannot access), not their data.
    assert (await api.get(evaluations_url(other.team.id))).status_code == 403


async def test_scopes(client: httpx.AsyncClient, session: AsyncSession, identity: Identity) -> None:
    read_only = bearer(await add_key(session, identity, scopes=["evaluation:read"]))
    datasets = bearer(await add_key(session, identity, scopes=["dataset:write"]))
    await session.commit()
    team = identity.team.id
    missing = evaluations_url(team, uuid.uuid4())

    assert (await client.get(evaluations_url(team), headers=read_only)).status_code == 200
    for method, url in (("POST", evaluations_url(team)), ("PATCH", missing), ("DELETE", missing)):
        response = await client.request(method, url, headers=read_only, json={})
        assert response.status_code == 403, (method, url)
        assert response.json()["detail"] == "API key missing required scope 'evaluation:write'"
    response = await client.get(missing, headers=datasets)
    assert response.status_code == 403
    assert response.json()["detail"] == "API key missing required scope 'evaluation:read'"
    assert (await client.get(evaluations_url(team))).status_code == 401


async def test_projects_alias_and_form_body(api: httpx.AsyncClient, identity: Identity) -> None:
    response = await api.post(
        f"/api/projects/{identity.team.id}/evaluations",
        json={"name": "Via projects", "evaluation_config": {"prompt": "p"}},
    )
    assert response.status_code == 201, response.text
    listed = await api.get(f"/api/projects/{identity.team.id}/evaluations")
    assert listed.json()["results"][0]["name"] == "Via projects"
    response = await api.post(evaluations_url(identity.team.id), data={"name": "Form only"})
    assert response.status_code == 400
    assert response.json()["attr"] == "evaluation_config"
