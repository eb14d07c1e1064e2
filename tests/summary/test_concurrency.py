"""Concurrent identical summaries make one provider call, with real commits (as across replicas).

These tests do not run inside the per-test rolled-back transaction: the app gets its own
sessionmaker on the real engine, so each request commits, and the lease row is contended
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
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from app.db.engine import create_sessionmaker
from app.main import create_app
from app.models import EvaluationRun, Organization, SummaryLease, User
from app.settings import Settings
from app.summary.service import cache_key
from tests.evaluations.helpers import add_provider_key
from tests.factories import Identity, make_identity
from tests.summary.conftest import Seeded, seed_runs, with_settings
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
    application = create_app(settings, sessionmaker=sessionmaker, http_transport=transport)
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


async def _cache_key_of(committed: Committed, engine: AsyncEngine) -> str:
    evaluation_id = uuid.UUID(committed.seeded.evaluation_id)
    async with create_sessionmaker(engine)() as session:
        runs = (
            await session.scalars(
                select(EvaluationRun).where(EvaluationRun.evaluation_id == evaluation_id)
            )
        ).all()
    return cache_key(evaluation_id, "all", runs)


async def _lease_held_elsewhere(
    committed: Committed, engine: AsyncEngine, key: str, seconds: float
) -> None:
    """Another replica's lease on the key, committed, expiring in `seconds`."""
    async with create_sessionmaker(engine)() as session:
        await session.execute(
            insert(SummaryLease).values(
                team_id=committed.identity.team.id,
                cache_key=key,
                holder=uuid.uuid4(),
                expires_at=func.clock_timestamp()
                + func.make_interval(0, 0, 0, 0, 0, 0, float(seconds)),
            )
        )
        await session.commit()


@with_settings(summary_timeout_seconds=0.5)
async def test_waiting_for_the_lease_counts_against_the_timeout(
    committed: Committed, engine: AsyncEngine
) -> None:
    """Another replica holds the cache key's lease for too long: 504, no provider call."""
    await _lease_held_elsewhere(committed, engine, await _cache_key_of(committed, engine), 60)
    response = await committed.client.post(
        committed.seeded.url, json={"evaluation_id": committed.seeded.evaluation_id}
    )
    assert response.status_code == 504, response.text
    assert response.json()["code"] == "provider_timeout"
    assert committed.fake.calls == []


async def test_an_expired_lease_is_taken_over(committed: Committed, engine: AsyncEngine) -> None:
    """A holder that died leaves its lease; once it expires, a waiter computes the summary."""
    key = await _cache_key_of(committed, engine)
    await _lease_held_elsewhere(committed, engine, key, 0.3)
    response = await committed.client.post(
        committed.seeded.url, json={"evaluation_id": committed.seeded.evaluation_id}
    )
    assert response.status_code == 200, response.text
    assert len(committed.fake.calls) == 1
    async with create_sessionmaker(engine)() as session:
        left = await session.scalar(
            select(func.count()).select_from(SummaryLease).where(SummaryLease.cache_key == key)
        )
    assert left == 0  # released with the cached summary


async def test_waiters_hold_no_pooled_connection(committed: Committed, engine: AsyncEngine) -> None:
    """Identical requests waiting for one slow computation leave the pool free: the holder
    calls the provider and the waiters poll, all without a checked-out connection."""
    committed.fake.delay = 1.5
    request = {"evaluation_id": committed.seeded.evaluation_id}
    pending = [
        asyncio.create_task(committed.client.post(committed.seeded.url, json=request))
        for _ in range(8)
    ]
    await asyncio.sleep(0.6)  # all of them are past their reads, one is at the provider
    # A waiter's poll is a short transaction of its own, so one may be caught mid-poll; what
    # must not happen is connections held throughout the wait (the pool here has 5).
    samples = []
    for _ in range(20):
        samples.append(engine.sync_engine.pool.checkedout())  # type: ignore[attr-defined]
        await asyncio.sleep(0.02)
    responses = await asyncio.gather(*pending)
    assert [r.status_code for r in responses] == [200] * 8
    assert len(committed.fake.calls) == 1
    assert min(samples) == 0, samples
    assert max(samples) <= 2, samples


# The slots answer 429 with Retry-After = PROVIDER_TIMEOUT_SECONDS.
@with_settings(provider_calls_per_team=2, provider_timeout_seconds=3)
async def test_provider_calls_beyond_the_team_cap_get_429(committed: Committed) -> None:
    """Different cache keys each call the provider; past PROVIDER_CALLS_PER_TEAM: 429."""
    app = committed.client._transport.app  # type: ignore[attr-defined]
    committed.fake.delay = 1.0
    responses = await asyncio.gather(
        *(
            committed.client.post(
                committed.seeded.url,
                json={"evaluation_id": committed.seeded.evaluation_id, "filter": name},
            )
            for name in ("all", "pass", "fail")
        )
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200, 200, 429], [r.text for r in responses]
    throttled = next(r for r in responses if r.status_code == 429)
    assert throttled.headers["retry-after"] == "3"
    assert throttled.json()["type"] == "throttled_error"
    assert throttled.json()["error"] == throttled.json()["detail"]
    assert len(committed.fake.calls) == 2
    assert app.state.provider_slots.in_use(committed.identity.team.id) == 0
