"""`evaluation_config/`: created on first read, and which keys `set_active_key/` accepts."""

from __future__ import annotations

import uuid

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.evaluation_config.repository import EvaluationConfigRepository
from app.models import EvaluationConfig
from tests.factories import Identity
from tests.provider_keys.conftest import FakeProviders, base_path, create_key


async def test_config_is_created_on_first_read(api: httpx.AsyncClient, identity: Identity) -> None:
    url = f"{base_path(identity.team.id)}/evaluation_config/"
    first = await api.get(url)
    assert first.status_code == 200
    body = first.json()
    assert {
        k: body[k] for k in ("trial_eval_limit", "trial_evals_used", "trial_evals_remaining")
    } == {
        "trial_eval_limit": 7,
        "trial_evals_used": 0,
        "trial_evals_remaining": 7,
    }
    assert body["active_provider_key"] is None
    assert body["created_at"].endswith("Z")
    assert (await api.get(url)).json()["created_at"] == body["created_at"]


async def test_set_active_key(
    api: httpx.AsyncClient, identity: Identity, fake: FakeProviders
) -> None:
    base = base_path(identity.team.id)
    url = f"{base}/evaluation_config/set_active_key/"
    missing = await api.post(url)
    assert missing.status_code == 400
    assert (missing.json()["attr"], missing.json()["code"]) == ("key_id", "required")
    malformed = await api.post(url, json={"key_id": "x"})
    assert (malformed.status_code, malformed.json()["attr"]) == (400, "key_id")
    unknown = await api.post(url, json={"key_id": str(uuid.uuid4())})
    assert (unknown.status_code, unknown.json()["detail"]) == (404, "Key not found.")

    key = await create_key(api, identity.team.id)
    fake.fail(401)
    await api.post(f"{base}/provider_keys/{key['id']}/validate/")
    refused = await api.post(url, json={"key_id": key["id"]})
    assert refused.status_code == 400
    assert refused.json()["detail"] == (
        "Cannot activate key with state 'invalid'. Please validate the key first."
    )
    assert (await api.get(f"{base}/evaluation_config/")).json()["active_provider_key"] is None

    fake.fail(200)
    await api.post(f"{base}/provider_keys/{key['id']}/validate/")
    response = await api.post(url, data={"key_id": key["id"]})
    assert response.status_code == 200, response.text
    active = response.json()["active_provider_key"]
    assert (active["id"], active["set_as_active"]) == (key["id"], True)
    assert "api_key" not in active


async def test_the_trial_counter_counts_for_one_team_only(
    session: AsyncSession, identity: Identity, other: Identity
) -> None:
    mine = EvaluationConfigRepository(session, identity.team.id)
    theirs = EvaluationConfigRepository(session, other.team.id)
    await mine.config(7)
    await theirs.config(7)
    await mine.count_trial_eval()
    await mine.count_trial_eval()
    rows = await session.execute(
        select(EvaluationConfig.team_id, EvaluationConfig.trial_evals_used)
    )
    used = {row.team_id: row.trial_evals_used for row in rows}
    assert used == {identity.team.id: 2, other.team.id: 0}
