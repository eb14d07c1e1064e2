"""Real experiment runs for the reliability checks and the bench: a team with a dataset,
evaluations and an active key (written straight to the database), experiments started over
HTTP (the app in-process, committing for real), and `llma worker` processes."""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from cryptography.fernet import Fernet
from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert

from app.crypto import build_secret_box
from app.db.base import uuid7
from app.db.engine import create_engine, create_sessionmaker
from app.main import create_app
from app.models import (
    Dataset,
    DatasetItem,
    Evaluation,
    EvaluationConfig,
    Experiment,
    ExperimentResult,
    LLMProviderKey,
)
from app.settings import Settings
from tests.factories import make_identity


@dataclass(frozen=True)
class Team:
    team_id: int
    api_key: str
    dataset_id: uuid.UUID
    evaluation_ids: list[uuid.UUID]


def worker_env(
    database_url: str, fernet_key: str, provider_url: str, **extra: str
) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "ENCRYPTION_KEYS": fernet_key,
        "OPENAI_BASE_URL": provider_url,
        "LOG_FORMAT": "json",
        "EXPERIMENT_WORKER_IN_PROCESS": "false",
        **extra,
    }


def settings_for(database_url: str, fernet_key: str, provider_url: str) -> Settings:
    return Settings(  # type: ignore[call-arg]
        _env_file=None,
        database_url=database_url,
        encryption_keys=fernet_key,
        openai_base_url=provider_url,
        log_format="console",
        experiment_worker_in_process=False,
    )


async def seed_team(
    database_url: str, fernet_key: str, *, items: int, evaluations: int = 1
) -> Team:
    """A tenant with `items` items (`item-<n>`) and evaluations whose prompts say `crit-<x>`."""
    engine = create_engine(database_url, pool_size=1, max_overflow=0)
    box = build_secret_box(settings_for(database_url, fernet_key, ""))
    try:
        async with create_sessionmaker(engine)() as session:
            identity = await make_identity(session)
            team = identity.team.id
            dataset = Dataset(team_id=team, name="reliability", metadata_={})
            session.add(dataset)
            key = LLMProviderKey(
                team_id=team,
                provider="openai",
                name="judge",
                state="ok",
                encrypted_api_key=box.encrypt("sk-judge-0123456789"),
                api_key_masked="sk-j...6789",
            )
            session.add(key)
            judges = [
                Evaluation(
                    team_id=team,
                    name=f"judge {n}",
                    evaluation_config={"prompt": f"Is it right? crit-{n}"},
                    output_config={"allows_na": False},
                    conditions=[],
                )
                for n in range(evaluations)
            ]
            session.add_all(judges)
            await session.flush()
            session.add(EvaluationConfig(team_id=team, active_provider_key_id=key.id))
            for start in range(0, items, 2000):
                rows = [
                    {
                        "id": uuid7(),
                        "team_id": team,
                        "dataset_id": dataset.id,
                        "input": f"item-{n}",
                        "output": f"answer {n}",
                        "metadata_": {},
                    }
                    for n in range(start, min(items, start + 2000))
                ]
                await session.execute(insert(DatasetItem), rows)
            await session.commit()
            return Team(team, identity.api_key, dataset.id, [j.id for j in judges])
    finally:
        await engine.dispose()


async def start_experiment(settings: Settings, team: Team, **extra: Any) -> str:
    """POST …/experiments/ through the real app, committed."""
    engine = create_engine(settings.database_url or "", pool_size=2, max_overflow=0)
    app = create_app(settings)
    app.state.engine = engine
    app.state.sessionmaker = create_sessionmaker(engine)
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://testserver",
            headers={"Authorization": f"Bearer {team.api_key}"},
        ) as client:
            response = await client.post(
                f"/api/environments/{team.team_id}/experiments/",
                json={
                    "dataset": str(team.dataset_id),
                    "evaluations": [str(e) for e in team.evaluation_ids],
                    **extra,
                },
            )
            assert response.status_code == 201, response.text
            return str(response.json()["id"])
    finally:
        await engine.dispose()


async def spawn_worker(
    env: dict[str, str], log_path: Path, concurrency: int
) -> asyncio.subprocess.Process:
    with log_path.open("ab") as log:
        return await asyncio.create_subprocess_exec(
            sys.executable,
            *["-m", "app.cli", "worker", "--concurrency", str(concurrency)],
            env=env,
            stdout=log,
            stderr=asyncio.subprocess.STDOUT,
        )


@dataclass(frozen=True)
class State:
    status: str
    done: int
    total: int
    results: int


async def state(database_url: str, experiment_id: str) -> State:
    engine = create_engine(database_url, pool_size=1, max_overflow=0)
    try:
        async with create_sessionmaker(engine)() as session:
            exp = await session.get(Experiment, uuid.UUID(experiment_id))
            assert exp is not None
            results = await session.scalar(
                select(func.count()).where(ExperimentResult.experiment_id == exp.id)
            )
            return State(exp.status, int(results or 0), exp.total_pairs, int(results or 0))
    finally:
        await engine.dispose()


def new_fernet_key() -> str:
    return Fernet.generate_key().decode()
