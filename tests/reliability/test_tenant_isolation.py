"""One team's slow provider calls cannot starve another team (issue 18, items 1 and 2).

A real `llma serve` (database pool of 20) talks to the fake provider on loopback. Team A
floods the service with provider-calling requests that the provider never finishes; team B's
ordinary reads and its own key validation must keep working, and quickly.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests import database
from tests.reliability.fake_provider import FakeProvider
from tests.reliability.harness import Outcome, Recorder, Service, Tenant, provision, serving

pytestmark = pytest.mark.reliability

PROVIDER_TIMEOUT = 1.5
SUMMARY_TIMEOUT = 8.0
POOL_SIZE = 20  # app/db/engine.py: pool_size 20, no overflow
READ_WITHIN = 1.5  # seconds for one of B's reads, under A's flood


@dataclass
class Rig:
    service: Service
    fake: FakeProvider
    a: Tenant
    b: Tenant


@pytest.fixture
async def rig(server_url: str) -> AsyncIterator[Rig]:
    url = await database.create_database(server_url, prefix="llma_tenants")
    fake = FakeProvider()
    await fake.start()
    try:
        await database.alembic(url, "upgrade", "head")
        a, b = await provision(url), await provision(url)
        env = {
            "OPENAI_BASE_URL": fake.base_url,
            "ALLOW_PRIVATE_PROVIDER_URLS": "true",
            "PROVIDER_TIMEOUT_SECONDS": str(PROVIDER_TIMEOUT),
            "SUMMARY_TIMEOUT_SECONDS": str(SUMMARY_TIMEOUT),
        }
        with tempfile.TemporaryDirectory(prefix="llma-tenants-") as logs:
            async with serving(url, Path(logs), **env) as service:
                yield Rig(service, fake, a, b)
                assert "Traceback" not in service.log()
    finally:
        await fake.stop()
        await database.drop_database(server_url, url)


async def _summarisable(client: httpx.AsyncClient, tenant: Tenant) -> tuple[str, dict[str, str]]:
    """An active key and an evaluation with runs: (summary URL, request body)."""
    base = f"/api/environments/{tenant.team_id}"
    key = await client.post(
        f"{base}/llm_analytics/provider_keys/",
        json={"provider": "openai", "api_key": "sk-a", "name": "a", "set_as_active": True},
    )
    assert key.status_code == 201, key.text
    evaluation = await client.post(
        f"{base}/evaluations/",
        json={
            "name": "helpfulness",
            "evaluation_type": "llm_judge",
            "evaluation_config": {"prompt": "Is the answer helpful?"},
            "output_type": "boolean",
        },
    )
    assert evaluation.status_code == 201, evaluation.text
    evaluation_id = str(evaluation.json()["id"])
    runs = [
        {"generation_id": f"gen-{n}", "result": n % 2 == 0, "reasoning": f"reason {n}"}
        for n in range(6)
    ]
    recorded = await client.post(f"{base}/evaluations/{evaluation_id}/runs/", json={"runs": runs})
    assert recorded.status_code == 201, recorded.text
    return f"{base}/llm_analytics/evaluation_summary/", {"evaluation_id": evaluation_id}


async def test_slow_summaries_of_one_team_leave_the_pool_to_the_others(rig: Rig) -> None:
    flood = POOL_SIZE + 10
    limits = httpx.Limits(max_connections=flood + 10)
    async with (
        httpx.AsyncClient(
            base_url=rig.service.base, headers=rig.a.headers, timeout=60, limits=limits
        ) as a,
        httpx.AsyncClient(base_url=rig.service.base, headers=rig.b.headers, timeout=30) as b,
    ):
        url, body = await _summarisable(a, rig.a)
        rig.fake.mode = "slow"  # the provider never answers a summary
        summaries = Recorder()
        flooding = [
            asyncio.create_task(summaries.send(a, "POST", url, json=body)) for _ in range(flood)
        ]
        await asyncio.sleep(1.0)  # every summary is in: one at the provider, the rest waiting
        reads = Recorder()
        datasets = f"/api/environments/{rig.b.team_id}/datasets/"
        reading_until = time.monotonic() + 6.0
        while time.monotonic() < reading_until:
            await reads.send(b, "GET", datasets)
            await asyncio.sleep(0.1)
        await asyncio.gather(*flooding)

    assert len(reads.outcomes) >= 10
    assert {o.status for o in reads.outcomes} == {200}, _shown(reads.outcomes)
    assert max(o.elapsed for o in reads.outcomes) < READ_WITHIN, _shown(reads.outcomes)
    # Team A's summaries end as the provider's timeout, within their deadline, one way or
    # another: none of them is a 500 or a 503.
    assert {o.status for o in summaries.outcomes} == {504}, _shown(summaries.outcomes)
    assert max(o.elapsed for o in summaries.outcomes) < SUMMARY_TIMEOUT + 3
    assert rig.fake.calls["/v1/chat/completions"] <= 3  # single flight, not one call each


async def test_slow_validations_of_one_team_leave_the_outbound_pool_to_the_others(
    rig: Rig,
) -> None:
    """Team A's validations hit a provider that drips its answer; team B's validation, made
    meanwhile against a healthy provider, succeeds."""
    flood = 110  # more than the shared client's 100 outbound connections
    path_a = f"/api/environments/{rig.a.team_id}/llm_analytics/provider_key_validations/"
    path_b = f"/api/environments/{rig.b.team_id}/llm_analytics/provider_key_validations/"
    limits = httpx.Limits(max_connections=flood + 10)
    async with (
        httpx.AsyncClient(
            base_url=rig.service.base, headers=rig.a.headers, timeout=15, limits=limits
        ) as a,
        httpx.AsyncClient(base_url=rig.service.base, headers=rig.b.headers, timeout=15) as b,
    ):
        rig.fake.mode = "ok"
        drips = Recorder()
        body_a = {"provider": "openai", "api_key": "sk-mode-drip-team-a"}
        flooding = [
            asyncio.create_task(drips.send(a, "POST", path_a, json=body_a)) for _ in range(flood)
        ]
        await asyncio.sleep(1.0)
        theirs = await b.post(path_b, json={"provider": "openai", "api_key": "sk-team-b"})
        await asyncio.gather(*flooding)

    assert theirs.status_code == 201, theirs.text
    assert theirs.json() == {"state": "ok", "error_message": None}
    statuses = {o.status for o in drips.outcomes}
    assert statuses == {201, 429}, _shown(drips.outcomes)
    for outcome in drips.outcomes:
        if outcome.status == 201:  # cut at the deadline: SPEC §6's timeout outcome
            assert outcome.body == {
                "state": "error",
                "error_message": "Could not connect to OpenAI",
            }
        else:
            assert outcome.body["type"] == "throttled_error"
        assert outcome.elapsed < PROVIDER_TIMEOUT + 3, _shown([outcome])


def _shown(outcomes: list[Outcome]) -> str:
    shown = [(o.status, round(o.elapsed, 2), str(o.body)[:100], o.error) for o in outcomes[:8]]
    return f"{len(outcomes)} requests, e.g. {shown}"
