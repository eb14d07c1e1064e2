"""Builders shared by the evaluation and summary tests: evaluations, runs and provider keys."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import EvaluationConfig, LLMProviderKey
from tests.factories import Identity


def evaluations_url(team_id: int | str, *parts: object) -> str:
    suffix = "".join(f"{part}/" for part in parts)
    return f"/api/environments/{team_id}/evaluations/{suffix}"


async def create_evaluation(api: httpx.AsyncClient, team_id: int, **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "Helpfulness",
        "evaluation_type": "llm_judge",
        "evaluation_config": {"prompt": "Is the answer helpful?"},
        "output_type": "boolean",
    }
    body.update(fields)
    response = await api.post(evaluations_url(team_id), json=body)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def add_runs(
    api: httpx.AsyncClient, team_id: int, evaluation_id: str, runs: list[dict[str, Any]]
) -> dict[str, Any]:
    response = await api.post(evaluations_url(team_id, evaluation_id, "runs"), json={"runs": runs})
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def run(result: bool | None, reasoning: str = "because", **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "generation_id": f"gen-{uuid.uuid4().hex[:12]}",
        "result": result,
        "reasoning": reasoning,
    }
    body.update(fields)
    return body


async def add_provider_key(
    session: AsyncSession,
    app: Any,
    identity: Identity,
    *,
    provider: str = "openai",
    api_key: str = "sk-team-key-0123456789",
    name: str = "Team key",
    state: str = "ok",
    active: bool = False,
    **fields: Any,
) -> LLMProviderKey:
    """A stored key, encrypted with the app's box; optionally the team's active key."""
    key = LLMProviderKey(
        team_id=identity.team.id,
        provider=provider,
        name=name,
        state=state,
        encrypted_api_key=app.state.secret_box.encrypt(api_key),
        api_key_masked=f"{api_key[:4]}...{api_key[-4:]}",
        created_by_id=identity.user.id,
        **fields,
    )
    session.add(key)
    await session.flush()
    if active:
        config = await session.scalar(
            select(EvaluationConfig).where(EvaluationConfig.team_id == identity.team.id)
        )
        if config is None:
            config = EvaluationConfig(team_id=identity.team.id, trial_eval_limit=100)
            session.add(config)
        config.active_provider_key_id = key.id
        await session.flush()
    await session.commit()
    return key
