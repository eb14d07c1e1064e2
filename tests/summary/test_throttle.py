"""Per-team summary throttles kept in PostgreSQL: every admitted request counts."""

from __future__ import annotations

import asyncio
import datetime as dt

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import RateLimitCounter
from tests.factories import Identity, make_identity
from tests.summary.conftest import Seeded, summary_url, with_settings
from tests.summary.fake_llm import FakeLLM


def limit(**limits: int) -> dict[str, int]:
    """The settings for these limits (`burst=3` → `summary_throttle_burst`)."""
    return {f"summary_throttle_{name}": value for name, value in limits.items()}


async def start_inside_a_minute() -> None:
    """Start the test well inside a minute: the windows are fixed."""
    second = dt.datetime.now(dt.UTC).second
    if second >= 50:
        await asyncio.sleep(61 - second)


async def counts(session: AsyncSession, team_id: int) -> dict[str, int]:
    rows = await session.execute(
        select(RateLimitCounter.bucket, RateLimitCounter.count).where(
            RateLimitCounter.team_id == team_id
        )
    )
    return {str(bucket): int(count) for bucket, count in rows.all()}


@with_settings(**limit(burst=3))
async def test_burst_limit_answers_429_with_retry_after(
    api: httpx.AsyncClient, session: AsyncSession, identity: Identity, seeded: Seeded
) -> None:
    await start_inside_a_minute()
    # Failing requests count too: a 404, a 400 and a 400 for want of a key.
    statuses = [
        (await api.post(seeded.url, json=body)).status_code
        for body in (
            {"evaluation_id": "00000000-0000-7000-8000-000000000000"},
            {"filter": "bogus"},
            {"evaluation_id": seeded.evaluation_id},
        )
    ]
    assert statuses == [404, 400, 400]

    response = await api.post(seeded.url, json={"evaluation_id": seeded.evaluation_id})
    assert response.status_code == 429
    body = response.json()
    assert body["type"] == "throttled_error"
    assert body["error"] == body["detail"]
    retry_after = int(response.headers["Retry-After"])
    assert 1 <= retry_after <= 60
    assert f"{retry_after} seconds" in body["detail"]
    # The refused request was not counted.
    assert await counts(session, identity.team.id) == {"minute": 3, "hour": 3, "day": 3}


@pytest.mark.parametrize(
    ("settings", "longest"),
    [
        (limit(burst=50, sustained=1), 3600),
        (limit(burst=50, sustained=50, daily=1), 86400),
    ],
    indirect=["settings"],
)
async def test_hourly_and_daily_limits(
    api: httpx.AsyncClient, seeded: Seeded, longest: int
) -> None:
    await start_inside_a_minute()
    body = {"evaluation_id": seeded.evaluation_id}
    assert (await api.post(seeded.url, json=body)).status_code == 400  # no key: counted
    response = await api.post(seeded.url, json=body)
    assert response.status_code == 429
    assert 1 <= int(response.headers["Retry-After"]) <= longest


@with_settings(**limit(burst=1))
async def test_throttles_are_per_team_and_need_access(
    api: httpx.AsyncClient,
    client: httpx.AsyncClient,
    session: AsyncSession,
    identity: Identity,
    seeded: Seeded,
    fake_llm: FakeLLM,
) -> None:
    await start_inside_a_minute()
    other = await make_identity(session)
    await session.commit()
    # Our key on their team: 403, and it counts nowhere.
    response = await api.post(summary_url(other.team.id), json={})
    assert response.status_code == 403
    assert await counts(session, other.team.id) == {}

    body = {"evaluation_id": seeded.evaluation_id}
    assert (await api.post(seeded.url, json=body)).status_code == 400
    assert (await api.post(seeded.url, json=body)).status_code == 429

    response = await client.post(summary_url(other.team.id), json={}, headers=other.headers)
    assert response.status_code == 400  # their first request of the minute is admitted
    assert await counts(session, other.team.id) == {"minute": 1, "hour": 1, "day": 1}
