"""Summary fixtures: a fake provider on the shared client, provider URLs, seeded runs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import LLMProviderKey
from app.settings import Settings
from tests.evaluations.helpers import add_provider_key, add_runs, create_evaluation, run
from tests.factories import Identity
from tests.summary.fake_llm import FakeLLM

PROVIDER_URLS = {
    "openai_base_url": "http://openai.test/v1",
    "anthropic_base_url": "http://anthropic.test",
    "gemini_base_url": "http://gemini.test",
}


@pytest.fixture
def settings(settings: Settings, request: pytest.FixtureRequest) -> Settings:
    """The fake providers' URLs, and what a test changes with `with_settings`."""
    return settings.model_copy(update={**PROVIDER_URLS, **getattr(request, "param", {})})


def with_settings(**update: Any) -> pytest.MarkDecorator:
    """Build the test's app (`create_app(settings)`) with these settings changed."""
    return pytest.mark.parametrize("settings", [update], indirect=True, ids=["settings"])


@pytest.fixture
def fake_llm() -> FakeLLM:
    return FakeLLM()


@pytest.fixture
def provider_transport(fake_llm: FakeLLM) -> httpx.MockTransport:
    return httpx.MockTransport(fake_llm)


def summary_url(team_id: int | str) -> str:
    return f"/api/environments/{team_id}/llm_analytics/evaluation_summary/"


@dataclass
class Seeded:
    evaluation_id: str
    runs: dict[str, list[dict[str, Any]]]  # by verdict: pass, fail, na
    url: str

    def ids(self, verdict: str) -> list[str]:
        return [r["generation_id"] for r in self.runs[verdict]]


async def seed_runs(
    api: httpx.AsyncClient, identity: Identity, *, passes: int = 3, fails: int = 2, nas: int = 1
) -> Seeded:
    evaluation = await create_evaluation(api, identity.team.id, output_config={"allows_na": True})
    runs = {
        "pass": [run(True, f"Answer {i} is grounded in the source.") for i in range(passes)],
        "fail": [run(False, f"Answer {i} invents a fact.") for i in range(fails)],
        "na": [run(None, f"Run {i} is a greeting, not a question.") for i in range(nas)],
    }
    batch = [*runs["pass"], *runs["fail"], *runs["na"]]
    if batch:
        await add_runs(api, identity.team.id, evaluation["id"], batch)
    return Seeded(evaluation["id"], runs, summary_url(identity.team.id))


@pytest.fixture
async def seeded(api: httpx.AsyncClient, identity: Identity) -> Seeded:
    return await seed_runs(api, identity)


@pytest.fixture
async def team_key(session: AsyncSession, app: Any, identity: Identity) -> LLMProviderKey:
    """An `ok` OpenAI key, active for the team."""
    return await add_provider_key(session, app, identity, active=True)
