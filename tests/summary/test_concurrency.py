"""Concurrent identical summaries make one provider call, with real commits (as across replicas).

These tests do not run inside the per-test rolled-back transaction: the app gets its own
sessionmaker on the real engine, so each request commits, and the advisory lock is contended
between separate connections, as between two replicas. Everything created is deleted after.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from app.db import create_sessionmaker
from app.http import create_http_client
from app.main import create_app
from app.models import EvaluationRun, Organization, User
from app.settings import Settings
from app.summary.repository import lock_id
from app.summary.service import cache_key
from tests.evaluations.helpers import add_provider_key
from tests.factories import Identity, make_identity
from tests.summary.conftest import Seeded, seed_runs
from tests.summary.fake_llm import FakeLLM, answer


@dataclass
class Committed:
    client: httpx.AsyncClient
    identity: Identity
    fake: FakeLLM
    seeded: Seeded


@pytest.fixture
async def committed(engine: AsyncEngine, settings: Settings) -> AsyncIterator[Committed]:
    sessionmaker = create_sessionmaker(engine)
    fake = FakeLLM(answer(), delay=0.5)
    transport = httpx.MockTransport(fake)
    application = create_app(settings, http_transport=transport)
    application.state.engine = engine
    application.state.sessionmaker = sessionmaker
    application.state.http_client = create_http_client(settings, transport)
    async with sessionmaker() as session:
        identity = await make_identity(session)
        await session.commit()
        await add_provider_key(session, application, identity, active=True)
    asgi = httpx.ASGITransport(app=application)
    try:
        async with httpx.AsyncClient(
            transport=asgi, base_url="http://testserver", headers=identity.headers
        ) as client:
            seeded = await seed_runs(client, identity)
            yield Committed(client, identity, fake, seeded)
    finally:
        await application.state.http_client.aclose()
        async with sessionmaker() as session:
            # Teams, their keys, evaluations, runs, cache rows and counters cascade.
            await session.execute(
                delete(Organization).where(Organization.id == identity.organization.id)
            )
            await session.execute(delete(User).where(User.id == identity.user.id))
            await session.commit()


async def _both(committed: Committed, body: dict[str, Any]) -> list[httpx.Response]:
    request = {"evaluation_id": committed.seeded.evaluation_id, **body}
    return list(
        await asyncio.gather(
            committed.client.post(committed.seeded.url, json=request),
            committed.client.post(committed.seeded.url, json=request),
        )
    )


async def test_concurrent_identical_requests_make_one_provider_call(committed: Committed) -> None:
    first, second = await _both(committed, {})
    assert first.status_code == second.status_code == 200, (first.text, second.text)
    assert first.json() == second.json()
    assert len(committed.fake.calls) == 1

    # Forced refreshes arriving together are one refresh, too.
    committed.fake.then(answer(overall_assessment="Refreshed."))
    first, second = await _both(committed, {"force_refresh": True})
    assert first.json()["overall_assessment"] == "Refreshed."
    assert second.json() == first.json()
    assert len(committed.fake.calls) == 2

    # Different filters are different cache keys: they do not wait for each other.
    first, second = await asyncio.gather(
        committed.client.post(
            committed.seeded.url,
            json={"evaluation_id": committed.seeded.evaluation_id, "filter": "pass"},
        ),
        committed.client.post(
            committed.seeded.url,
            json={"evaluation_id": committed.seeded.evaluation_id, "filter": "fail"},
        ),
    )
    assert first.status_code == second.status_code == 200
    assert len(committed.fake.calls) == 4


async def test_a_failed_computation_lets_the_waiter_try(committed: Committed) -> None:
    committed.fake.then(401, answer())
    first, second = await _both(committed, {})
    assert sorted([first.status_code, second.status_code]) == [200, 502]
    assert len(committed.fake.calls) == 2


async def test_waiting_for_the_lock_counts_against_the_timeout(
    committed: Committed, engine: AsyncEngine
) -> None:
    """Another replica holds the cache key's lock for too long: 504, no provider call."""
    evaluation_id = uuid.UUID(committed.seeded.evaluation_id)
    async with create_sessionmaker(engine)() as session:
        runs = (
            await session.scalars(
                select(EvaluationRun).where(EvaluationRun.evaluation_id == evaluation_id)
            )
        ).all()
    held = lock_id(committed.identity.team.id, cache_key(evaluation_id, "all", runs))
    app = committed.client._transport.app  # type: ignore[attr-defined]
    app.state.settings = app.state.settings.model_copy(update={"summary_timeout_seconds": 0.5})
    async with engine.connect() as other_replica:
        await other_replica.execute(select(func.pg_advisory_lock(held)))
        try:
            response = await committed.client.post(
                committed.seeded.url, json={"evaluation_id": str(evaluation_id)}
            )
        finally:
            await other_replica.execute(select(func.pg_advisory_unlock(held)))
    assert response.status_code == 504, response.text
    assert response.json()["code"] == "provider_timeout"
    assert committed.fake.calls == []
