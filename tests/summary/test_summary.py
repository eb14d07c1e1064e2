"""The summary over each wire protocol, and what we never take from the model."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import LLMProviderKey
from tests.evaluations.helpers import add_provider_key, add_runs, run
from tests.factories import Identity
from tests.summary.conftest import Seeded, seed_runs
from tests.summary.fake_llm import FakeLLM, answer, pattern


@pytest.mark.parametrize(
    ("provider", "api_key", "path", "model"),
    [
        ("openai", "sk-team-0123456789", "/v1/chat/completions", "gpt-4.1-mini"),
        ("anthropic", "sk-ant-team-0123456789", "/v1/messages", "claude-sonnet-4-5"),
        ("gemini", "AIza-team-0123456789", "/v1beta/models/gemini-2.5-flash:generateContent", None),
    ],
)
async def test_each_wire_protocol_produces_a_summary(
    api: httpx.AsyncClient,
    app: Any,
    session: AsyncSession,
    identity: Identity,
    fake_llm: FakeLLM,
    provider: str,
    api_key: str,
    path: str,
    model: str | None,
) -> None:
    key = await add_provider_key(
        session, app, identity, provider=provider, api_key=api_key, active=True
    )
    seeded = await seed_runs(api, identity)
    fake_llm.then(
        answer(
            pass_patterns=[pattern("Grounded answers", seeded.ids("pass")[:2])],
            fail_patterns=[pattern("Invented facts", seeded.ids("fail"), frequency="Occasional")],
            na_patterns=[pattern("Greetings", seeded.ids("na"), frequency="rare")],
        )
    )

    response = await api.post(seeded.url, json={"evaluation_id": seeded.evaluation_id})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["overall_assessment"] == "Mostly helpful answers; failures invent facts."
    assert body["pass_patterns"] == [
        {
            "title": "Grounded answers",
            "description": "Grounded answers across several runs.",
            "frequency": "common",
            "example_reasoning": "The answer cites the source.",
            "example_generation_ids": seeded.ids("pass")[:2],
        }
    ]
    assert body["fail_patterns"][0]["frequency"] == "occasional"
    assert body["na_patterns"][0]["example_generation_ids"] == seeded.ids("na")
    assert body["recommendations"] == [
        "Ground answers in the retrieved context.",
        "Add a refusal path.",
    ]
    assert body["statistics"] == {
        "total_analyzed": 6,
        "pass_count": 3,
        "fail_count": 2,
        "na_count": 1,
    }

    assert len(fake_llm.calls) == 1
    call = fake_llm.calls[0]
    assert call.url.path == path
    sent = json.loads(call.content)
    if provider == "openai":
        assert call.headers["authorization"] == f"Bearer {api_key}"
        assert sent["model"] == model
        schema = sent["response_format"]["json_schema"]["schema"]
        assert sent["response_format"]["type"] == "json_schema"
        assert "statistics" not in schema["properties"]
        prompt = sent["messages"][1]["content"]
    elif provider == "anthropic":
        assert call.headers["x-api-key"] == api_key
        assert sent["model"] == model
        assert sent["tool_choice"] == {"type": "tool", "name": "evaluation_summary"}
        assert set(sent["tools"][0]["input_schema"]["required"]) == {
            "overall_assessment",
            "pass_patterns",
            "fail_patterns",
            "na_patterns",
            "recommendations",
        }
        prompt = sent["messages"][0]["content"]
    else:
        assert call.headers["x-goog-api-key"] == api_key
        config = sent["generationConfig"]
        assert config["responseMimeType"] == "application/json"
        assert "recommendations" in config["responseSchema"]["properties"]
        prompt = sent["contents"][0]["parts"][0]["text"]
    for run_body in seeded.runs["fail"]:
        assert run_body["generation_id"] in prompt
    assert '"verdict": "FAIL"' in prompt
    assert "Is the answer helpful?" in prompt  # the judge's prompt is context

    stored = await session.scalar(
        select(LLMProviderKey.last_used_at).where(LLMProviderKey.id == key.id)
    )
    assert stored is not None


async def test_statistics_and_citations_never_come_from_the_model(
    api: httpx.AsyncClient, team_key: LLMProviderKey, seeded: Seeded, fake_llm: FakeLLM
) -> None:
    lie = answer(
        statistics={"total_analyzed": 999, "pass_count": 998, "fail_count": 1, "na_count": 0},
        pass_patterns=[
            pattern(
                "Grounded answers",
                [
                    "gen-invented",
                    seeded.ids("pass")[0],
                    seeded.ids("fail")[0],
                    seeded.ids("pass")[0],
                ],
            )
        ],
        fail_patterns=[pattern(f"Failure {i}", seeded.ids("fail")) for i in range(6)],
        recommendations=[f"Do thing {i}" for i in range(7)],
        confidence="extremely high",  # extra keys are ignored
    )
    fake_llm.then(lie)
    body = (await api.post(seeded.url, json={"evaluation_id": seeded.evaluation_id})).json()
    assert body["statistics"] == {
        "total_analyzed": 6,
        "pass_count": 3,
        "fail_count": 2,
        "na_count": 1,
    }
    assert body["pass_patterns"][0]["example_generation_ids"] == [seeded.ids("pass")[0]]
    assert len(body["fail_patterns"]) == 4
    assert len(body["recommendations"]) == 4
    assert "confidence" not in body
    assert "statistics" not in fake_llm.bodies()[0]["response_format"]["json_schema"]["schema"]


async def test_filter_empties_other_categories(
    api: httpx.AsyncClient, team_key: LLMProviderKey, seeded: Seeded, fake_llm: FakeLLM
) -> None:
    fake_llm.then(
        answer(
            pass_patterns=[pattern("Should vanish", seeded.ids("pass"))],
            fail_patterns=[pattern("Invented facts", seeded.ids("fail"))],
            na_patterns=[pattern("Should vanish too", seeded.ids("na"))],
        )
    )
    response = await api.post(
        seeded.url, json={"evaluation_id": seeded.evaluation_id, "filter": "fail"}
    )
    body = response.json()
    assert body["pass_patterns"] == []
    assert body["na_patterns"] == []
    assert [p["title"] for p in body["fail_patterns"]] == ["Invented facts"]
    assert body["statistics"] == {
        "total_analyzed": 2,
        "pass_count": 0,
        "fail_count": 2,
        "na_count": 0,
    }
    prompt = fake_llm.bodies()[0]["messages"][1]["content"]
    assert all(gid not in prompt for gid in seeded.ids("pass"))
    assert "Only FAIL runs are analysed" in fake_llm.bodies()[0]["messages"][0]["content"]


async def test_generation_ids_and_the_newest_250(
    api: httpx.AsyncClient, identity: Identity, team_key: LLMProviderKey, fake_llm: FakeLLM
) -> None:
    seeded = await seed_runs(api, identity, passes=0, fails=0, nas=0)
    older = [run(True, timestamp=f"2025-01-01T00:{i // 60:02d}:{i % 60:02d}Z") for i in range(60)]
    newer = [
        run(False, timestamp=f"2026-01-01T{i // 3600:02d}:{i // 60 % 60:02d}:{i % 60:02d}Z")
        for i in range(250)
    ]
    await add_runs(api, identity.team.id, seeded.evaluation_id, older + newer)

    body = (await api.post(seeded.url, json={"evaluation_id": seeded.evaluation_id})).json()
    assert body["statistics"] == {
        "total_analyzed": 250,
        "pass_count": 0,
        "fail_count": 250,
        "na_count": 0,
    }
    prompt = fake_llm.bodies()[0]["messages"][1]["content"]
    assert older[-1]["generation_id"] not in prompt

    chosen = [older[0]["generation_id"], newer[0]["generation_id"], "gen-unknown"]
    body = (
        await api.post(
            seeded.url, json={"evaluation_id": seeded.evaluation_id, "generation_ids": chosen}
        )
    ).json()
    assert body["statistics"] == {
        "total_analyzed": 2,
        "pass_count": 1,
        "fail_count": 1,
        "na_count": 0,
    }


async def test_long_reasonings_are_truncated_to_the_budget(
    api: httpx.AsyncClient, identity: Identity, team_key: LLMProviderKey, fake_llm: FakeLLM
) -> None:
    seeded = await seed_runs(api, identity, passes=0, fails=0, nas=0)
    short = run(True, "Short and complete reasoning.")
    huge = [run(False, "é" * 150_000 + f" tail-{i}") for i in range(3)]
    await add_runs(api, identity.team.id, seeded.evaluation_id, [short, *huge])

    response = await api.post(seeded.url, json={"evaluation_id": seeded.evaluation_id})
    assert response.status_code == 200, response.text
    request = fake_llm.bodies()[0]
    prompt_bytes = sum(len(m["content"].encode()) for m in request["messages"])
    assert prompt_bytes <= 60_000 * 3
    assert "Short and complete reasoning." in request["messages"][1]["content"]
    assert request["messages"][1]["content"].count("[truncated]") == 3
    assert "tail-0" not in request["messages"][1]["content"]
