"""`/metrics` moves with the summary: cache hits and misses, provider calls, throttle refusals."""

from __future__ import annotations

import httpx
from prometheus_client import REGISTRY

from app.models import LLMProviderKey
from tests.summary.conftest import Seeded, with_settings
from tests.summary.fake_llm import FakeLLM, answer
from tests.summary.test_throttle import limit, start_inside_a_minute


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_cache_hits_misses_and_provider_calls_are_counted(
    api: httpx.AsyncClient, team_key: LLMProviderKey, seeded: Seeded, fake_llm: FakeLLM
) -> None:
    hits = sample("evaluation_summary_cache_lookups_total", result="hit")
    misses = sample("evaluation_summary_cache_lookups_total", result="miss")
    calls = sample("llm_provider_calls_total", provider="openai", outcome="ok")
    timed = sample("llm_provider_call_duration_seconds_count", provider="openai")

    fake_llm.then(answer())
    body = {"evaluation_id": seeded.evaluation_id}
    assert (await api.post(seeded.url, json=body)).status_code == 200  # computed
    assert (await api.post(seeded.url, json=body)).status_code == 200  # from the cache
    assert len(fake_llm.calls) == 1

    assert sample("evaluation_summary_cache_lookups_total", result="miss") == misses + 1
    assert sample("evaluation_summary_cache_lookups_total", result="hit") == hits + 1
    assert sample("llm_provider_calls_total", provider="openai", outcome="ok") == calls + 1
    assert sample("llm_provider_call_duration_seconds_count", provider="openai") == timed + 1

    scraped = (await api.get("/metrics")).text
    assert 'evaluation_summary_cache_lookups_total{result="hit"}' in scraped
    assert 'llm_provider_calls_total{outcome="ok",provider="openai"}' in scraped


async def test_provider_failures_are_counted_by_outcome(
    api: httpx.AsyncClient, team_key: LLMProviderKey, seeded: Seeded, fake_llm: FakeLLM
) -> None:
    outcomes = ("rate_limited", "server_error", "timeout")
    before = {o: sample("llm_provider_calls_total", provider="openai", outcome=o) for o in outcomes}
    body = {"evaluation_id": seeded.evaluation_id}
    fake_llm.then(429)
    assert (await api.post(seeded.url, json=body)).status_code == 502
    fake_llm.then(503)  # retried once: two calls
    calls = len(fake_llm.calls)
    assert (await api.post(seeded.url, json=body)).status_code == 502
    server_errors = len(fake_llm.calls) - calls
    fake_llm.then(httpx.ReadTimeout("too slow"))
    assert (await api.post(seeded.url, json=body)).status_code == 504

    after = {o: sample("llm_provider_calls_total", provider="openai", outcome=o) for o in outcomes}
    assert server_errors == 2
    assert after == {
        "rate_limited": before["rate_limited"] + 1,
        "server_error": before["server_error"] + server_errors,
        "timeout": before["timeout"] + 1,
    }


@with_settings(**limit(burst=1))
async def test_throttle_refusals_are_counted_by_throttle(
    api: httpx.AsyncClient, seeded: Seeded
) -> None:
    await start_inside_a_minute()
    refused = sample("throttled_requests_total", reason="burst")
    daily = sample("throttled_requests_total", reason="daily")
    body = {"evaluation_id": seeded.evaluation_id}
    assert (await api.post(seeded.url, json=body)).status_code != 429  # 400: no provider key
    assert (await api.post(seeded.url, json=body)).status_code == 429
    assert (await api.post(seeded.url, json=body)).status_code == 429
    assert sample("throttled_requests_total", reason="burst") == refused + 2
    assert sample("throttled_requests_total", reason="daily") == daily
