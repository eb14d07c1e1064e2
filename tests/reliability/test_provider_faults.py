"""Every provider failure maps to its documented error and leaves no partial rows (SPEC §5, §6).

One real service talks to the fake provider of `fake_provider.py` on loopback, through
OPENAI_BASE_URL; each check switches the fake's mode and looks at both the answer and the rows.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from tests import database
from tests.reliability.fake_provider import FakeProvider
from tests.reliability.harness import Tenant, provision, serving

pytestmark = pytest.mark.reliability

PROVIDER_TIMEOUT = 1.5
SUMMARY_TIMEOUT = 3.0
COULD_NOT_CONNECT = "Could not connect to OpenAI"
RATE_LIMITED = "Rate limited, please try again later"
# mode → (state, error_message) of a key validation (SPEC §6)
VALIDATION = {
    "slow": ("error", COULD_NOT_CONNECT),
    # One byte every 0.5 s: each read is quick, the whole call is cut at the deadline.
    "drip": ("error", COULD_NOT_CONNECT),
    "error_500": ("error", "OpenAI is unavailable (HTTP 500)"),
    "rate_429": ("error", RATE_LIMITED),
    "malformed": ("error", "OpenAI returned a response that is not JSON"),
    "truncated": ("error", COULD_NOT_CONNECT),
}


class Rig:
    def __init__(self, client: httpx.AsyncClient, fake: FakeProvider, tenant: Tenant, url: str):
        self.client, self.fake, self.tenant, self.url = client, fake, tenant, url
        self.base = f"/api/environments/{tenant.team_id}"

    async def rows(self, table: str) -> int:
        connection = await asyncpg.connect(**database.connect_kwargs(self.url))
        try:
            query = f"SELECT count(*) FROM {table} WHERE team_id = $1"  # table: a literal below
            return int(await connection.fetchval(query, self.tenant.team_id))
        finally:
            await connection.close()

    async def timed(self, method: str, path: str, **kwargs: Any) -> tuple[httpx.Response, float]:
        started = time.monotonic()
        response = await self.client.request(method, self.base + path, **kwargs)
        return response, time.monotonic() - started


@pytest.fixture(scope="module")
async def rig(server_url: str) -> AsyncIterator[Rig]:
    url = await database.create_database(server_url, prefix="llma_faults")
    fake = FakeProvider()
    await fake.start()
    try:
        await database.alembic(url, "upgrade", "head")
        tenant = await provision(url)
        env = {
            "OPENAI_BASE_URL": fake.base_url,
            "ALLOW_PRIVATE_PROVIDER_URLS": "true",
            "PROVIDER_TIMEOUT_SECONDS": str(PROVIDER_TIMEOUT),
            "SUMMARY_TIMEOUT_SECONDS": str(SUMMARY_TIMEOUT),
        }
        with tempfile.TemporaryDirectory(prefix="llma-faults-") as logs:
            async with (
                serving(url, Path(logs), **env) as service,
                httpx.AsyncClient(
                    base_url=service.base, headers=tenant.headers, timeout=30
                ) as client,
            ):
                yield Rig(client, fake, tenant, url)
                assert "Traceback" not in service.log()
    finally:
        await fake.stop()
        await database.drop_database(server_url, url)


@pytest.mark.parametrize("mode", sorted(VALIDATION))
async def test_key_validation_reports_the_fault_and_stores_nothing(rig: Rig, mode: str) -> None:
    rig.fake.mode = mode
    body = {"provider": "openai", "api_key": "sk-fault-test"}
    checked, elapsed = await rig.timed(
        "POST", "/llm_analytics/provider_key_validations/", json=body
    )
    created, _ = await rig.timed(
        "POST", "/llm_analytics/provider_keys/", json={**body, "name": mode}
    )

    state, message = VALIDATION[mode]
    assert checked.status_code == 201, checked.text
    assert checked.json() == {"state": state, "error_message": message}
    assert elapsed < PROVIDER_TIMEOUT + 2
    assert created.status_code == 400, created.text
    assert created.json()["attr"] == "api_key"
    assert created.json()["detail"] == message
    assert await rig.rows("llm_provider_keys") == 0


async def _stored_ok_key(rig: Rig, name: str, *, active: bool = False) -> str:
    rig.fake.mode = "ok"
    body = {"provider": "openai", "api_key": "sk-stored", "name": name, "set_as_active": active}
    response = await rig.client.post(f"{rig.base}/llm_analytics/provider_keys/", json=body)
    assert response.status_code == 201, response.text
    assert response.json()["state"] == "ok"
    return str(response.json()["id"])


@pytest.mark.parametrize("mode", sorted(VALIDATION))
async def test_revalidating_and_listing_models_map_the_fault(rig: Rig, mode: str) -> None:
    key_id = await _stored_ok_key(rig, f"stored {mode}")
    keys_before = await rig.rows("llm_provider_keys")
    rig.fake.mode = mode

    models, elapsed = await rig.timed(
        "GET", "/llm_analytics/models/", params={"provider": "openai", "key_id": key_id}
    )
    validated, _ = await rig.timed("POST", f"/llm_analytics/provider_keys/{key_id}/validate/")
    rig.fake.mode = "ok"
    reread = await rig.client.get(f"{rig.base}/llm_analytics/provider_keys/{key_id}/")

    assert models.status_code == 502, models.text
    assert models.json()["type"] == "server_error"
    assert elapsed < PROVIDER_TIMEOUT + 2
    state, message = VALIDATION[mode]
    assert validated.status_code == 200, validated.text
    assert (validated.json()["state"], validated.json()["error_message"]) == (state, message)
    # The outcome was saved whole on the key; no other row appeared or vanished.
    assert (reread.json()["state"], reread.json()["error_message"]) == (state, message)
    assert await rig.rows("llm_provider_keys") == keys_before


# mode → (status, code, provider calls): 5xx, connect errors and unusable output are retried
# once; a timeout and a 429 are not (SPEC §5.8).
SUMMARY_FAULTS = {
    "slow": (504, "provider_timeout", 1),
    "drip": (504, "provider_timeout", 1),
    "error_500": (502, "provider_unavailable", 2),
    "rate_429": (502, "provider_rate_limited", 1),
    "malformed": (502, "provider_bad_output", 2),
    "truncated": (502, "provider_unavailable", 2),
    "wrong_shape": (502, "provider_bad_output", 2),
}


@pytest.fixture(scope="module")
async def evaluation(rig: Rig) -> str:
    await _stored_ok_key(rig, "summaries", active=True)
    created = await rig.client.post(
        f"{rig.base}/evaluations/",
        json={
            "name": "helpfulness",
            "evaluation_type": "llm_judge",
            "evaluation_config": {"prompt": "Is the answer helpful?"},
            "output_type": "boolean",
        },
    )
    assert created.status_code == 201, created.text
    evaluation_id = str(created.json()["id"])
    runs = [
        {"generation_id": f"gen-{n}", "result": n % 3 != 0, "reasoning": f"reason {n}"}
        for n in range(12)
    ]
    recorded = await rig.client.post(
        f"{rig.base}/evaluations/{evaluation_id}/runs/", json={"runs": runs}
    )
    assert recorded.status_code == 201, recorded.text
    return evaluation_id


@pytest.mark.parametrize("mode", sorted(SUMMARY_FAULTS))
async def test_summary_maps_the_fault_and_caches_nothing(
    rig: Rig, evaluation: str, mode: str
) -> None:
    rig.fake.mode = mode
    rig.fake.calls.clear()
    response, elapsed = await rig.timed(
        "POST",
        "/llm_analytics/evaluation_summary/",
        json={"evaluation_id": evaluation, "force_refresh": True},
    )
    status, code, calls = SUMMARY_FAULTS[mode]
    body = response.json()
    assert response.status_code == status, response.text
    assert body["code"] == code
    assert body["type"] == "server_error"
    assert body["error"] == body["detail"]
    assert "sk-stored" not in response.text
    assert rig.fake.calls["/v1/chat/completions"] == calls
    assert elapsed < SUMMARY_TIMEOUT + 2
    assert await rig.rows("evaluation_summary_cache") == 0


async def test_summary_works_once_the_provider_behaves(rig: Rig, evaluation: str) -> None:
    """The same rig succeeds in `ok` mode, so the faults above are the provider's alone."""
    rig.fake.mode = "ok"
    response = await rig.client.post(
        f"{rig.base}/llm_analytics/evaluation_summary/",
        json={"evaluation_id": evaluation, "force_refresh": True},
    )
    assert response.status_code == 200, response.text
    assert response.json()["statistics"]["total_analyzed"] == 12
    assert await rig.rows("evaluation_summary_cache") == 1
