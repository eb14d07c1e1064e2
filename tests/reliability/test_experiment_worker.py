"""Experiment workers as real processes: SIGKILL mid-run loses nothing and repeats nothing
already written; a small team's experiment is not stuck behind a large one."""

from __future__ import annotations

import asyncio
import signal
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from app.db.engine import create_engine, create_sessionmaker
from app.models import EvaluationRun, ExperimentResult
from tests.fakes.judge_server import JudgeServer
from tests.reliability.experiments import (
    State,
    new_fernet_key,
    seed_team,
    settings_for,
    spawn_worker,
    start_experiment,
    state,
    worker_env,
)
from tests.reliability.harness import serving

pytestmark = pytest.mark.reliability


@pytest.fixture
async def judge() -> AsyncIterator[JudgeServer]:
    server = JudgeServer(delay=0.05)
    await server.start()
    yield server
    await server.stop()


async def _wait_for(
    database_url: str, experiment_id: str, predicate: Callable[[State], bool], seconds: float
) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate(await state(database_url, experiment_id)):
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"timed out: {await state(database_url, experiment_id)}")


async def _stop(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), timeout=20)
        except TimeoutError:
            process.kill()
            await process.wait()


async def test_sigkilled_worker_is_replaced_without_loss_or_repeats(
    fresh_database: str, judge: JudgeServer, tmp_path: Path
) -> None:
    key = new_fernet_key()
    team = await seed_team(fresh_database, key, items=80, evaluations=2)
    settings = settings_for(fresh_database, key, judge.base_url)
    experiment = await start_experiment(settings, team)
    env = worker_env(
        fresh_database,
        key,
        judge.base_url,
        EXPERIMENT_LEASE_SECONDS="3",
        EXPERIMENT_CHUNK_SIZE="5",
    )
    log = tmp_path / "workers.log"
    first = await spawn_worker(env, log, concurrency=4)
    try:
        await _wait_for(fresh_database, experiment, lambda s: s.done >= 40, seconds=90)
    finally:
        first.send_signal(signal.SIGKILL)
        await first.wait()
    mid = await state(fresh_database, experiment)
    assert mid.status == "running"
    assert mid.done < 160
    second = await spawn_worker(env, log, concurrency=4)
    try:
        await _wait_for(fresh_database, experiment, lambda s: s.status == "succeeded", 120)
    finally:
        await _stop(second)

    final = await state(fresh_database, experiment)
    assert (final.total, final.done, final.results) == (160, 160, 160), log.read_text()[-3000:]
    engine = create_engine(fresh_database, pool_size=1, max_overflow=0)
    try:
        async with create_sessionmaker(engine)() as session:
            rows = (
                await session.execute(
                    select(
                        ExperimentResult.dataset_item_id,
                        ExperimentResult.evaluation_id,
                        ExperimentResult.created_at,
                    ).where(ExperimentResult.experiment_id == uuid.UUID(experiment))
                )
            ).all()
            runs = await session.scalar(
                select(func.count()).where(EvaluationRun.experiment_id == uuid.UUID(experiment))
            )
    finally:
        await engine.dispose()
    # Exactly one verdict per (item, evaluation), each also an evaluation run.
    assert len({(r.dataset_item_id, r.evaluation_id) for r in rows}) == 160
    assert runs == 160
    # No call was made for a pair whose verdict was already written: every repeat of a pair's
    # call happened before its verdict existed (a call in flight when the worker died).
    calls = Counter(key for key, _ in judge.calls)
    assert set(calls) == {f"item-{n}/crit-{e}" for n in range(80) for e in range(2)}
    repeated = {key for key, count in calls.items() if count > 1}
    assert len(repeated) <= 8, repeated  # at most one per job slot of the killed worker (2 x 4)
    written_at = {}
    item_numbers = await _item_numbers(fresh_database, team.dataset_id)
    evaluation_numbers = {e: n for n, e in enumerate(team.evaluation_ids)}
    for row in rows:
        name = (
            f"item-{item_numbers[row.dataset_item_id]}/crit-{evaluation_numbers[row.evaluation_id]}"
        )
        written_at[name] = row.created_at.timestamp()
    late = [(key, moment) for key, moment in judge.calls if moment > written_at[key]]
    assert late == []


async def _item_numbers(database_url: str, dataset_id: uuid.UUID) -> dict[uuid.UUID, int]:
    from app.models import DatasetItem

    engine = create_engine(database_url, pool_size=1, max_overflow=0)
    try:
        async with create_sessionmaker(engine)() as session:
            rows = await session.execute(
                select(DatasetItem.id, DatasetItem.input).where(
                    DatasetItem.dataset_id == dataset_id
                )
            )
            return {row.id: int(str(row.input).removeprefix("item-")) for row in rows}
    finally:
        await engine.dispose()


async def test_a_small_experiment_is_not_stuck_behind_a_large_one(
    fresh_database: str, judge: JudgeServer, tmp_path: Path
) -> None:
    key = new_fernet_key()
    big = await seed_team(fresh_database, key, items=2000)
    small = await seed_team(fresh_database, key, items=20)
    settings = settings_for(fresh_database, key, judge.base_url)
    env = worker_env(fresh_database, key, judge.base_url, EXPERIMENT_TEAM_CONCURRENCY="4")
    worker = await spawn_worker(env, tmp_path / "worker.log", concurrency=8)
    try:
        large = await start_experiment(settings, big)
        await _wait_for(fresh_database, large, lambda s: s.done >= 100, seconds=90)
        began = time.monotonic()
        little = await start_experiment(settings, small)
        await _wait_for(fresh_database, little, lambda s: s.status == "succeeded", seconds=60)
        took = time.monotonic() - began
        behind = await state(fresh_database, large)
    finally:
        await _stop(worker)
    # 20 calls of 50 ms, 4 at a time, need ~0.25 s; the bound allows for chunks of the large
    # experiment already picked and a loaded machine, and does not depend on its 2000 items.
    assert took < 15, took
    assert behind.status == "running"
    assert behind.done < 2000


async def test_llma_serve_runs_experiments_in_process(
    fresh_database: str, judge: JudgeServer, tmp_path: Path
) -> None:
    """The embedded default: `llma serve` alone (no `llma worker`) runs an experiment."""
    key = new_fernet_key()
    team = await seed_team(fresh_database, key, items=12)
    async with (
        serving(
            fresh_database, tmp_path, ENCRYPTION_KEYS=key, OPENAI_BASE_URL=judge.base_url
        ) as service,
        httpx.AsyncClient(
            base_url=service.base,
            headers={"Authorization": f"Bearer {team.api_key}"},
            timeout=10,
        ) as client,
    ):
        started = await client.post(
            f"/api/environments/{team.team_id}/experiments/",
            json={
                "dataset": str(team.dataset_id),
                "evaluations": [str(team.evaluation_ids[0])],
            },
        )
        assert started.status_code == 201, started.text
        url = f"/api/environments/{team.team_id}/experiments/{started.json()['id']}/"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            body = (await client.get(url)).json()
            if body["status"] == "succeeded":
                break
            await asyncio.sleep(0.2)
    assert body["status"] == "succeeded", service.log()[-3000:]
    assert body["progress"] == {"total": 12, "done": 12, "errored": 0}
    assert len(judge.calls) == 12
