"""The PostgreSQL summary cache, trial evals on the operator's key, and key bookkeeping."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import EvaluationConfig, LLMProviderKey, SummaryCacheEntry
from tests.evaluations.helpers import add_runs, run
from tests.factories import Identity
from tests.summary.conftest import Seeded, with_settings
from tests.summary.fake_llm import FakeLLM, answer

DEFAULT_KEY = "sk-operator-default-key-4242"


async def summarize(api: httpx.AsyncClient, seeded: Seeded, **body: Any) -> dict[str, Any]:
    response = await api.post(seeded.url, json={"evaluation_id": seeded.evaluation_id, **body})
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def test_cache_hit_refresh_and_new_runs(
    api: httpx.AsyncClient,
    session: AsyncSession,
    identity: Identity,
    team_key: LLMProviderKey,
    seeded: Seeded,
    fake_llm: FakeLLM,
) -> None:
    fake_llm.then(answer(overall_assessment="First take."))
    first = await summarize(api, seeded)
    assert await summarize(api, seeded) == first
    assert len(fake_llm.calls) == 1  # a hit makes no provider call
    entry = await session.scalar(select(SummaryCacheEntry))
    assert entry is not None
    assert entry.team_id == identity.team.id
    assert entry.payload == first

    fake_llm.then(answer(overall_assessment="Second take."))
    refreshed = await summarize(api, seeded, force_refresh=True)
    assert refreshed["overall_assessment"] == "Second take."
    assert len(fake_llm.calls) == 2
    assert (await summarize(api, seeded))["overall_assessment"] == "Second take."  # replaced
    assert len(fake_llm.calls) == 2

    # Another filter is another entry; new runs change the digest and miss.
    await summarize(api, seeded, filter="fail")
    assert len(fake_llm.calls) == 3
    await add_runs(api, identity.team.id, seeded.evaluation_id, [run(False, "New failure.")])
    fake_llm.then(answer(overall_assessment="Third take."))
    after = await summarize(api, seeded)
    assert after["overall_assessment"] == "Third take."
    assert after["statistics"]["fail_count"] == 3
    assert len(fake_llm.calls) == 4


async def test_cache_hits_need_no_key_and_expire(
    api: httpx.AsyncClient,
    app: Any,
    session: AsyncSession,
    team_key: LLMProviderKey,
    seeded: Seeded,
    fake_llm: FakeLLM,
) -> None:
    first = await summarize(api, seeded)
    await session.execute(delete(LLMProviderKey).where(LLMProviderKey.id == team_key.id))
    await session.commit()
    assert await summarize(api, seeded) == first
    assert len(fake_llm.calls) == 1

    # An expired entry is a miss (and without a key, a miss is a 400).
    await session.execute(
        update(SummaryCacheEntry).values(
            expires_at=func.clock_timestamp() - func.make_interval(0, 0, 0, 0, 0, 0, 1.0)
        )
    )
    await session.commit()
    response = await api.post(seeded.url, json={"evaluation_id": seeded.evaluation_id})
    assert response.status_code == 400
    assert response.json()["code"] == "no_provider_key"


@with_settings(summary_cache_ttl_seconds=0)
async def test_zero_ttl_disables_caching(
    api: httpx.AsyncClient, team_key: LLMProviderKey, seeded: Seeded, fake_llm: FakeLLM
) -> None:
    await summarize(api, seeded)
    await summarize(api, seeded)
    assert len(fake_llm.calls) == 2


# The operator's default key (trial evals), for the tests marked with it.
with_default_key = with_settings(
    default_llm_provider="anthropic",
    default_llm_api_key=SecretStr(DEFAULT_KEY),
    summary_model_anthropic="claude-test-model",
)


async def trial_usage(session: AsyncSession, identity: Identity) -> tuple[int, int]:
    row = (
        await session.execute(
            select(EvaluationConfig.trial_evals_used, EvaluationConfig.trial_eval_limit).where(
                EvaluationConfig.team_id == identity.team.id
            )
        )
    ).one()
    return int(row[0]), int(row[1])


@with_default_key
async def test_operator_default_key_spends_trial_evals(
    api: httpx.AsyncClient,
    session: AsyncSession,
    identity: Identity,
    seeded: Seeded,
    fake_llm: FakeLLM,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    await summarize(api, seeded)
    call = fake_llm.calls[0]
    assert call.url.path == "/v1/messages"
    assert call.headers["x-api-key"] == DEFAULT_KEY
    assert fake_llm.bodies()[0]["model"] == "claude-test-model"
    assert await trial_usage(session, identity) == (1, 100)

    await summarize(api, seeded)  # cache hit: no trial used
    assert await trial_usage(session, identity) == (1, 100)
    await summarize(api, seeded, force_refresh=True)
    assert await trial_usage(session, identity) == (2, 100)

    config = await session.scalar(
        select(EvaluationConfig).where(EvaluationConfig.team_id == identity.team.id)
    )
    assert config is not None
    config.trial_evals_used = 100
    await session.commit()
    response = await api.post(
        seeded.url, json={"evaluation_id": seeded.evaluation_id, "force_refresh": True}
    )
    assert response.status_code == 400
    assert response.json()["code"] == "trial_limit_reached"
    assert response.json()["error"] == response.json()["detail"]
    assert len(fake_llm.calls) == 2
    assert await summarize(api, seeded)  # the cached summary is still served
    assert DEFAULT_KEY not in caplog.text


@with_default_key
async def test_team_key_wins_and_uses_no_trial(
    api: httpx.AsyncClient,
    session: AsyncSession,
    identity: Identity,
    team_key: LLMProviderKey,
    seeded: Seeded,
    fake_llm: FakeLLM,
) -> None:
    assert team_key.last_used_at is None
    await summarize(api, seeded)
    assert fake_llm.calls[0].url.host == "openai.test"
    assert await trial_usage(session, identity) == (0, 100)
    used = await session.scalar(
        select(LLMProviderKey.last_used_at).where(LLMProviderKey.id == team_key.id)
    )
    assert used is not None


async def test_expired_entries_are_removed_on_the_next_write(
    api: httpx.AsyncClient,
    session: AsyncSession,
    team_key: LLMProviderKey,
    seeded: Seeded,
    fake_llm: FakeLLM,
) -> None:
    await summarize(api, seeded)
    await session.execute(
        update(SummaryCacheEntry).values(
            expires_at=func.clock_timestamp() - func.make_interval(0, 0, 0, 0, 0, 0, 1.0)
        )
    )
    await session.commit()
    await summarize(api, seeded, filter="fail")
    keys = (await session.scalars(select(SummaryCacheEntry.payload))).all()
    assert [entry["statistics"]["total_analyzed"] for entry in keys] == [2]
    assert len(fake_llm.calls) == 2
