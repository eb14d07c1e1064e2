"""Experiment fixtures: a committed database for the worker (its tasks commit), a fake judge
on the shared client's transport, and builders for datasets and evaluations over HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncEngine

from app.db.engine import create_sessionmaker
from app.experiments.jobs import run_worker
from app.main import create_app
from app.models import Organization, User
from app.providers.client import create_http_client
from app.settings import Settings
from tests.evaluations.helpers import add_provider_key, create_evaluation
from tests.experiments.fake_judge import FakeJudge
from tests.factories import Identity, make_identity

FAST = {
    "openai_base_url": "http://openai.test/v1",
    "experiment_max_backoff_seconds": 0.05,
    "experiment_lease_seconds": 5.0,
}


def url(team_id: int, *parts: object) -> str:
    suffix = "".join(f"{part}/" for part in parts)
    return f"/api/environments/{team_id}/experiments/{suffix}"


async def make_dataset(api: httpx.AsyncClient, team_id: int, items: int) -> tuple[str, list[str]]:
    response = await api.post(f"/api/environments/{team_id}/datasets/", json={"name": "QA"})
    assert response.status_code == 201, response.text
    dataset = response.json()["id"]
    ids = []
    for n in range(items):
        created = await api.post(
            f"/api/environments/{team_id}/dataset_items/",
            json={"dataset": dataset, "input": f"item-{n}", "output": f"answer {n}"},
        )
        assert created.status_code == 201, created.text
        ids.append(created.json()["id"])
    return dataset, ids


@dataclass
class Committed:
    app: FastAPI
    api: httpx.AsyncClient
    identity: Identity
    fake: FakeJudge
    database_url: str

    async def drain(self) -> None:
        """Run a worker until the queue is empty (as `llma worker` would, then stop)."""
        state = self.app.state
        await run_worker(
            state.settings,
            self.database_url,
            sessionmaker=state.sessionmaker,
            client=state.http_client,
            box=state.secret_box,
            drain=True,
        )

    async def evaluation(self, **fields: Any) -> str:
        created = await create_evaluation(self.api, self.identity.team.id, **fields)
        return str(created["id"])

    async def start(self, **body: Any) -> dict[str, Any]:
        response = await self.api.post(url(self.identity.team.id), json=body)
        assert response.status_code == 201, response.text
        result: dict[str, Any] = response.json()
        return result

    async def get(self, *parts: object, **params: Any) -> Any:
        response = await self.api.get(url(self.identity.team.id, *parts), params=params)
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture
def experiment_settings(settings: Settings) -> Settings:
    return settings.model_copy(update=FAST)


@pytest.fixture
async def committed(
    engine: AsyncEngine, experiment_settings: Settings, database_url: str
) -> AsyncIterator[Committed]:
    sessionmaker = create_sessionmaker(engine)
    fake = FakeJudge()
    transport = httpx.MockTransport(fake)
    application = create_app(experiment_settings, http_transport=transport)
    application.state.engine = engine
    application.state.sessionmaker = sessionmaker
    application.state.http_client = create_http_client(experiment_settings, transport)
    async with sessionmaker() as session:
        identity = await make_identity(session)
        await session.commit()
        await add_provider_key(session, application, identity, active=True)
        await session.commit()
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=application),
            base_url="http://testserver",
            headers=identity.headers,
        ) as api:
            yield Committed(application, api, identity, fake, database_url)
    finally:
        await application.state.http_client.aclose()
        async with sessionmaker() as session:
            # Teams cascade to datasets, evaluations, experiments and everything under them.
            await session.execute(
                delete(Organization).where(Organization.id == identity.organization.id)
            )
            await session.execute(delete(User).where(User.id == identity.user.id))
            await session.commit()
