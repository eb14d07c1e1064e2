"""Summary failures: 400/403/404 before any provider call, provider failures → 502/504."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import LLMProviderKey, SummaryCacheEntry
from app.web.handlers import install_error_handlers
from tests.evaluations.helpers import add_provider_key, create_evaluation, evaluations_url
from tests.factories import Identity, add_key, bearer, make_identity
from tests.summary.conftest import Seeded, seed_runs, summary_url, with_settings
from tests.summary.fake_llm import FakeLLM, answer


def assert_error(response: httpx.Response, status: int, **expected: Any) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["error"] == body["detail"]
    for field, value in expected.items():
        assert body[field] == value, (field, body)
    return body


async def cached_entries(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(SummaryCacheEntry)) or 0)


async def test_requires_ai_data_processing_approval(
    client: httpx.AsyncClient, session: AsyncSession, fake_llm: FakeLLM
) -> None:
    unapproved = await make_identity(session, ai_approved=False)
    await session.commit()
    client.headers.update(unapproved.headers)
    seeded = await seed_runs(client, unapproved)
    response = await client.post(seeded.url, json={"evaluation_id": seeded.evaluation_id})
    body = assert_error(response, 403, type="authentication_error")
    assert "AI data processing must be approved" in body["detail"]
    assert fake_llm.calls == []


async def test_missing_deleted_and_foreign_evaluations_are_404(
    api: httpx.AsyncClient,
    client: httpx.AsyncClient,
    session: AsyncSession,
    identity: Identity,
    team_key: LLMProviderKey,
    fake_llm: FakeLLM,
) -> None:
    other = await make_identity(session)
    await session.commit()
    theirs = await client.post(
        evaluations_url(other.team.id),
        json={"name": "Theirs", "evaluation_config": {"prompt": "p"}},
        headers=other.headers,
    )
    gone = await create_evaluation(api, identity.team.id)
    await api.patch(evaluations_url(identity.team.id, gone["id"]), json={"deleted": True})
    for evaluation_id in (str(uuid.uuid4()), gone["id"], theirs.json()["id"]):
        response = await api.post(
            summary_url(identity.team.id), json={"evaluation_id": evaluation_id}
        )
        assert_error(
            response, 404, type="invalid_request", detail=f"Evaluation {evaluation_id} not found"
        )
    assert fake_llm.calls == []


async def test_no_matching_runs(
    api: httpx.AsyncClient, identity: Identity, team_key: LLMProviderKey, fake_llm: FakeLLM
) -> None:
    seeded = await seed_runs(api, identity, nas=0)
    for body in (
        {"filter": "na"},
        {"generation_ids": ["gen-nobody"]},
    ):
        response = await api.post(seeded.url, json={"evaluation_id": seeded.evaluation_id, **body})
        assert_error(response, 400, detail="No evaluation runs found for the specified criteria")
    assert fake_llm.calls == []


@pytest.mark.parametrize(
    ("body", "attr", "code"),
    [
        ({}, "evaluation_id", "required"),
        ({"evaluation_id": "nope"}, "evaluation_id", "invalid"),
        ({"filter": "failing"}, "filter", "invalid_choice"),
        ({"generation_ids": [f"g{i}" for i in range(251)]}, "generation_ids", "max_length"),
        ({"generation_ids": "g1"}, "generation_ids", "not_a_list"),
        ({"force_refresh": "sometimes"}, "force_refresh", "invalid"),
    ],
)
async def test_request_validation(
    api: httpx.AsyncClient,
    seeded: Seeded,
    fake_llm: FakeLLM,
    body: dict[str, Any],
    attr: str,
    code: str,
) -> None:
    payload = {"evaluation_id": seeded.evaluation_id, **body} if body else {}
    response = await api.post(seeded.url, json=payload)
    assert_error(response, 400, type="validation_error", attr=attr, code=code)
    assert fake_llm.calls == []


async def test_scope_auth_and_methods(
    client: httpx.AsyncClient, session: AsyncSession, identity: Identity, seeded: Seeded
) -> None:
    read_only = bearer(await add_key(session, identity, scopes=["llm_analytics:read"]))
    await session.commit()
    body = {"evaluation_id": seeded.evaluation_id}
    response = await client.post(seeded.url, json=body, headers=read_only)
    assert_error(response, 403, detail="API key missing required scope 'llm_analytics:write'")
    assert_error(await client.post(seeded.url, json=body, headers={"Authorization": ""}), 401)
    response = await client.get(seeded.url, headers=identity.headers)
    assert_error(response, 405, code="method_not_allowed", detail='Method "GET" not allowed.')
    assert response.headers["allow"] == "POST"
    other = await make_identity(session)
    await session.commit()
    response = await client.post(summary_url(other.team.id), json=body, headers=identity.headers)
    assert_error(response, 403)


async def test_key_choice_errors(
    api: httpx.AsyncClient,
    app: Any,
    session: AsyncSession,
    identity: Identity,
    seeded: Seeded,
    fake_llm: FakeLLM,
) -> None:
    body = {"evaluation_id": seeded.evaluation_id}
    response = await api.post(seeded.url, json=body)
    assert_error(response, 400, code="no_provider_key")

    # An active key that no configured encryption key can open: a clear 400, never a 500.
    key = await add_provider_key(session, app, identity, active=True)
    key.encrypted_api_key = "gAAAAA-not-a-token"
    await session.commit()
    response = await api.post(seeded.url, json=body)
    assert_error(response, 400, code="provider_key_unreadable")
    assert fake_llm.calls == []


@pytest.mark.parametrize(
    ("script", "calls", "code"),
    [
        (["not json at all", "```json\n{broken"], 2, "provider_bad_output"),
        ([{"overall_assessment": "x"}, {"overall_assessment": 3}], 2, "provider_bad_output"),
        ([answer(pass_patterns=[{"title": "no other fields"}])], 2, "provider_bad_output"),
        ([503, 502], 2, "provider_unavailable"),
        ([httpx.ConnectError("refused")], 2, "provider_unavailable"),
        ([429], 1, "provider_rate_limited"),
        ([401], 1, "provider_auth_failed"),
        ([400], 1, "provider_error"),
    ],
)
async def test_provider_failures_are_502_and_cache_nothing(
    api: httpx.AsyncClient,
    session: AsyncSession,
    team_key: LLMProviderKey,
    seeded: Seeded,
    fake_llm: FakeLLM,
    script: list[Any],
    calls: int,
    code: str,
) -> None:
    fake_llm.then(*script)
    response = await api.post(seeded.url, json={"evaluation_id": seeded.evaluation_id})
    body = assert_error(response, 502, type="server_error", code=code)
    assert len(fake_llm.calls) == calls
    assert "sk-team-key" not in body["detail"]
    if code == "provider_rate_limited":
        assert "rate limiting" in body["detail"]
    assert await cached_entries(session) == 0

    fake_llm.then(answer())
    response = await api.post(seeded.url, json={"evaluation_id": seeded.evaluation_id})
    assert response.status_code == 200
    assert len(fake_llm.calls) == calls + 1


async def test_unusable_output_is_retried_once_with_feedback(
    api: httpx.AsyncClient, team_key: LLMProviderKey, seeded: Seeded, fake_llm: FakeLLM
) -> None:
    fake_llm.then({"overall_assessment": "missing lists"}, answer())
    response = await api.post(seeded.url, json={"evaluation_id": seeded.evaluation_id})
    assert response.status_code == 200, response.text
    first, second = fake_llm.bodies()
    assert "previous answer was rejected" not in first["messages"][1]["content"]
    assert "previous answer was rejected" in second["messages"][1]["content"]


async def test_timeout_is_504_without_retry(
    api: httpx.AsyncClient, team_key: LLMProviderKey, seeded: Seeded, fake_llm: FakeLLM
) -> None:
    fake_llm.then(httpx.ReadTimeout("slow"))
    response = await api.post(seeded.url, json={"evaluation_id": seeded.evaluation_id})
    body = assert_error(response, 504, type="server_error", code="provider_timeout")
    assert "did not finish within" in body["detail"]
    assert len(fake_llm.calls) == 1


@with_settings(summary_timeout_seconds=0.3)
async def test_whole_request_stays_within_the_summary_timeout(
    api: httpx.AsyncClient, team_key: LLMProviderKey, seeded: Seeded, fake_llm: FakeLLM
) -> None:
    fake_llm.delay = 60.0
    started = time.monotonic()
    response = await api.post(seeded.url, json={"evaluation_id": seeded.evaluation_id})
    assert time.monotonic() - started < 20.0  # cut short at 0.3 s (generous for a busy CI box)
    assert_error(response, 504, code="provider_timeout")
    assert len(fake_llm.calls) == 1


async def test_every_error_of_the_path_carries_error(
    api: httpx.AsyncClient, identity: Identity
) -> None:
    """Also the errors no route of the endpoint renders: a method no route serves, and the
    `/api/projects/…` alias without its trailing slash."""
    response = await api.request("TRACE", summary_url(identity.team.id))
    assert_error(response, 405, code="method_not_allowed")
    alias = f"/api/projects/{identity.team.id}/llm_analytics/evaluation_summary"
    assert_error(await api.post(alias, json={}), 400, attr="evaluation_id")
    # Other endpoints keep the plain shape.
    response = await api.request("TRACE", evaluations_url(identity.team.id))
    assert response.status_code == 405
    assert "error" not in response.json()


async def test_a_500_carries_error_too() -> None:
    """A bug is rendered outside the routes (Starlette's server-error middleware), on the path
    as the client sent it: still with `error` on this endpoint, and only there."""
    bare = FastAPI()
    install_error_handlers(bare)

    async def broken() -> None:
        raise RuntimeError("a bug")

    bare.add_api_route("/api/projects/1/llm_analytics/evaluation_summary", broken, methods=["POST"])
    bare.add_api_route("/api/projects/1/datasets/", broken, methods=["POST"])
    transport = httpx.ASGITransport(app=bare, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        response = await client.post("/api/projects/1/llm_analytics/evaluation_summary")
        assert_error(response, 500, type="server_error", detail="A server error occurred.")
        response = await client.post("/api/projects/1/datasets/")
        assert response.status_code == 500
        assert "error" not in response.json()
