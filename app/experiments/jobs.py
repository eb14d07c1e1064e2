"""The queue's tasks and the worker process: `llma worker`, or in-process under `llma serve`.

pgqueuer gives the durable parts: jobs are rows, picked with SKIP LOCKED, kept alive by a
heartbeat; a job whose worker stops beating for EXPERIMENT_LEASE_SECONDS (SIGKILL, a lost
machine) is picked again by another worker. Our tasks are idempotent (see engine), so running
one twice costs at most the provider calls that were in flight when its worker died.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta
from typing import Any

import asyncpg
import httpx
from pgqueuer.adapters.drivers.asyncpg import AsyncpgDriver
from pgqueuer.domain.types import QueueExecutionMode
from pgqueuer.errors import RetryRequested
from pgqueuer.models import Job
from pgqueuer.qm import QueueManager
from pgqueuer.queries import Queries
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.crypto import SecretBox, build_secret_box
from app.db.engine import connect_kwargs, create_engine, create_sessionmaker
from app.experiments import engine, queue
from app.experiments.calls import Gates
from app.experiments.metrics import JOBS
from app.experiments.runtime import Worker
from app.providers.client import create_http_client
from app.settings import Settings

logger = logging.getLogger("app.experiments")
MAX_JOB_ATTEMPTS = 5
CONNECTIONS_PER_CLIENT = 4
RESTART_MIN_SECONDS, RESTART_MAX_SECONDS = (
    1.0,
    30.0,
)  # a task that keeps raising (database trouble) is retried this often


def _job_slots(settings: Settings) -> tuple[int, int]:
    """(batch size, jobs held at once). Chunks make one call at a time; twice as many job
    slots as call slots lets a team over its limit wait without starving the others."""
    concurrency = settings.experiment_worker_concurrency
    batch = max(1, concurrency // 4)
    return batch, max(2 * batch, 2 * concurrency)


def build_queue_manager(connection: asyncpg.Connection, worker: Worker) -> QueueManager:
    manager = QueueManager(Queries(AsyncpgDriver(connection)))

    async def guarded(kind: str, job: Job, work: object) -> None:
        experiment_id, _ = queue.parse_payload(job.payload)
        try:
            await work  # type: ignore[misc]
        except Exception:
            JOBS.labels(kind, "retried" if job.attempts < MAX_JOB_ATTEMPTS else "failed").inc()
            logger.exception("experiment job failed", extra={"experiment_id": str(experiment_id)})
            if job.attempts < MAX_JOB_ATTEMPTS:
                raise RetryRequested(timedelta(seconds=2**job.attempts)) from None
            await worker.fail(experiment_id, "internal_error")
            return
        JOBS.labels(kind, "done").inc()

    @manager.entrypoint(queue.PLAN)
    async def plan(job: Job) -> None:
        experiment_id, _ = queue.parse_payload(job.payload)
        await guarded("plan", job, engine.plan(worker, experiment_id))

    @manager.entrypoint(queue.CHUNK)
    async def chunk(job: Job) -> None:
        experiment_id, seq = queue.parse_payload(job.payload)
        assert seq is not None
        await guarded("chunk", job, engine.judge_chunk(worker, experiment_id, seq))

    return manager


async def run_worker(
    settings: Settings,
    database_url: str,
    *,
    sessionmaker: async_sessionmaker[AsyncSession] | None = None,
    client: httpx.AsyncClient | None = None,
    box: SecretBox | None = None,
    drain: bool = False,
    stop: asyncio.Event | None = None,
) -> None:
    """Process experiment jobs until `stop` is set (or, with `drain`, until the queue is empty)."""
    own_engine = None
    if sessionmaker is None:
        own_engine = create_engine(
            database_url, pool_size=settings.experiment_worker_concurrency + 4
        )
        sessionmaker = create_sessionmaker(own_engine)
    clients = [client] if client is not None else _own_clients(settings)
    worker = Worker(
        settings, sessionmaker, clients, box or build_secret_box(settings), Gates(settings)
    )
    connection = await asyncpg.connect(**connect_kwargs(database_url))
    manager = build_queue_manager(connection, worker)
    batch, slots = _job_slots(settings)
    watcher = None
    if stop is not None:
        watcher = asyncio.create_task(_forward(stop, manager.shutdown))
    try:
        await manager.run(
            batch_size=batch,
            max_concurrent_tasks=slots,
            heartbeat_timeout=timedelta(seconds=settings.experiment_lease_seconds),
            dequeue_timeout=timedelta(seconds=5),
            mode=QueueExecutionMode.drain if drain else QueueExecutionMode.continuous,
        )
    finally:
        if watcher is not None:
            watcher.cancel()
        with contextlib.suppress(Exception):  # it may be the connection that failed
            await connection.close()
        if client is None:
            for own in clients:
                await own.aclose()
        if own_engine is not None:
            await own_engine.dispose()


def _own_clients(settings: Settings) -> list[httpx.AsyncClient]:
    """One client per CONNECTIONS_PER_CLIENT calls in flight (see Worker.client)."""
    count = -(-settings.experiment_worker_concurrency // CONNECTIONS_PER_CLIENT)
    return [create_http_client(settings, keepalive=CONNECTIONS_PER_CLIENT) for _ in range(count)]


async def supervise(
    settings: Settings, database_url: str, *, stop: asyncio.Event, **shared: Any
) -> None:
    """`run_worker` until `stop`, started again after a failure (the database went away, a
    network blip): a worker must outlive an outage as the API does. Jobs it held are taken
    back by the queue's lease timeout, by this worker or another."""
    delay = RESTART_MIN_SECONDS
    while not stop.is_set():
        try:
            await run_worker(settings, database_url, stop=stop, **shared)
            delay = RESTART_MIN_SECONDS
        except Exception as exc:
            logger.warning(
                "experiment worker stopped (%s: %s); starting again in %.0f s",
                type(exc).__name__,
                str(exc)[:200],
                delay,
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=delay)
            delay = min(RESTART_MAX_SECONDS, delay * 2)


async def _forward(source: asyncio.Event, target: asyncio.Event) -> None:
    await source.wait()
    target.set()
