"""The work behind the queue's jobs: plan an experiment into chunks, judge a chunk's items.

Exactly once in effect: a chunk reads which (item, evaluation) verdicts exist before calling
anything and skips them; each verdict is inserted with ON CONFLICT DO NOTHING on its unique
key, together with its evaluation run, its ledger rows and the progress counters, in one short
transaction. No transaction is open while a provider thinks (STYLE #12).
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass
from functools import partial
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.evaluation_config.repository import EvaluationConfigRepository
from app.experiments import queue, verdicts
from app.experiments import work_repository as store
from app.experiments.calls import ExperimentStopped, Outcome, call_model
from app.experiments.judge import (
    Verdict,
    generate_request,
    judge_prompt,
    judge_request,
    parse_generated,
    parse_verdict,
    render_template,
)
from app.experiments.keys import KeyUnavailable, Target, generate_target, judge_target
from app.experiments.runtime import Worker
from app.models import Evaluation, Experiment
from app.providers.base import StructuredRequest
from app.settings import Settings

logger = logging.getLogger("app.experiments")
PLAN_PAGE_CHUNKS = 50  # chunks planned per transaction
SETUP_SECONDS = 10.0


async def plan(worker: Worker, experiment_id: uuid.UUID) -> None:
    """Walk the dataset by keyset, writing chunks and their jobs; resumes where it stopped."""
    size = worker.settings.experiment_chunk_size
    async with worker.tx() as session:
        exp = await store.experiment(session, experiment_id)
        if exp is None or exp.status not in store.ACTIVE:
            return
        await store.start(session, experiment_id)
        # The trial counter's row must exist before a chunk tries to spend from it.
        await EvaluationConfigRepository(session, exp.team_id).config(
            worker.settings.trial_eval_limit
        )
    while True:
        async with worker.tx() as session:
            exp = await store.experiment(session, experiment_id)
            if exp is None or exp.status != "running":
                return
            seq, after = await store.last_chunk(session, experiment_id)
            ids = await store.item_ids_after(session, exp, after, size * PLAN_PAGE_CHUNKS)
            if not ids:
                await store.planned(session, experiment_id)
                return
            chunks = []
            for start in range(0, len(ids), size):
                part = ids[start : start + size]
                chunks.append((seq, after, part[-1], len(part)))
                seq, after = seq + 1, part[-1]
            await store.add_chunks(session, exp, chunks, len(ids))
            await queue.enqueue_chunks(session, experiment_id, [c[0] for c in chunks])


@dataclass
class ChunkPlan:
    exp: Experiment
    evaluations: list[Evaluation]
    judges: dict[uuid.UUID, Target]
    generator: Target | None
    items: list[store.Item]
    written: dict[tuple[uuid.UUID, uuid.UUID], Any]
    size: int


@dataclass(frozen=True)
class Setup:
    """An experiment's evaluations and keys, resolved once and reused by its chunks for
    SETUP_SECONDS: resolving them cost more than judging a chunk (`make bench`). A key deleted
    or changed mid-experiment is noticed within that time."""

    evaluations: list[Evaluation]
    judges: dict[uuid.UUID, Target]
    generator: Target | None
    expires: float


async def _setup(worker: Worker, session: AsyncSession, exp: Experiment) -> Setup:
    evaluations = await store.evaluations(session, exp.team_id, exp.evaluation_ids)
    judges = {
        e.id: await judge_target(session, worker.settings, worker.box, e) for e in evaluations
    }
    generator = None
    if exp.generate:
        generator = await generate_target(
            session, worker.settings, worker.box, exp.team_id, exp.generate
        )
    if len(worker.setups) > 1000:
        worker.setups.clear()
    return Setup(evaluations, judges, generator, time.monotonic() + SETUP_SECONDS)


async def _read_chunk(worker: Worker, experiment_id: uuid.UUID, seq: int) -> ChunkPlan | None:
    async with worker.tx() as session:
        found = await store.chunk(session, experiment_id, seq)
        if found is None:
            return None
        exp, part = found
        if exp.status != "running" or part.done_at is not None:
            return None
        setup = worker.setups.get(experiment_id)
        if setup is None or setup.expires < time.monotonic():
            setup = await _setup(worker, session, exp)
            worker.setups[experiment_id] = setup
        evaluations, judges, generator = setup.evaluations, setup.judges, setup.generator
        items, written = await store.items(session, exp, part)
        return ChunkPlan(exp, evaluations, judges, generator, items, written, part.size)


async def judge_chunk(worker: Worker, experiment_id: uuid.UUID, seq: int) -> None:
    try:
        work = await _read_chunk(worker, experiment_id, seq)
    except KeyUnavailable as exc:
        await worker.fail(experiment_id, exc.reason)
        return
    if work is None:
        return
    try:
        status = work.exp.status
        for item in work.items:
            status = await _judge_item(worker, work, item, status)
            if status != "running":
                return  # cancelled or stopped: the chunk stays undone
    except ExperimentStopped as exc:
        await worker.fail(experiment_id, exc.reason, exc.calls)
        return
    async with worker.sessionmaker() as session:  # one statement: its own transaction
        vanished = work.size - len(work.items)
        if await store.complete_chunk(session, work.exp, seq, vanished):
            logger.info("experiment succeeded", extra={"experiment_id": str(experiment_id)})


async def _spend_trial(worker: Worker, team_id: int) -> bool:
    async with worker.tx() as session:
        return await store.spend_trial(session, team_id)


async def _judge_item(worker: Worker, work: ChunkPlan, item: store.Item, status: str) -> str:
    """Judge one item with every evaluation still missing a verdict, if the experiment is
    still running (`status`, as last read); returns the status read after the last write."""
    exp = work.exp
    missing = [e for e in work.evaluations if (item.id, e.id) not in work.written]
    if not missing or status != "running":
        return status
    settings = worker.settings
    pending: list[dict[str, Any]] = []
    output: Any = item.output
    generated: Any = None
    if work.generator is not None and exp.generate is not None:
        earlier = [
            work.written[(item.id, e.id)]
            for e in work.evaluations
            if (item.id, e.id) in work.written
        ]
        if earlier:
            generated = earlier[0]  # generated once per item; later verdicts reuse it
        else:
            config = exp.generate
            prompt = render_template(str(config["prompt"]), item.as_template_values())
            made: Outcome[str] = await call_model(
                worker.client,
                settings,
                worker.gates,
                exp.team_id,
                work.generator,
                lambda note: generate_request(
                    work.generator.model if work.generator else "",
                    prompt,
                    config.get("temperature"),
                    int(config.get("max_tokens") or 1024),
                    settings.summary_timeout_seconds,
                ),
                parse_generated,
                lambda: _spend_trial(worker, exp.team_id),
                _ledger(exp, item.id, None, "generate"),
            )
            pending = made.calls
            if made.value is None:
                failure = f"generate failed: {made.error}"
                spent: Outcome[Any] = Outcome(latency_ms=made.latency_ms)
                for evaluation in missing:
                    status = await _write(
                        worker, work, item, evaluation, None, failure, spent, None, pending
                    )
                    pending = []
                return status
            generated = made.value
        output = generated
    for evaluation in missing:
        allows_na = bool((evaluation.output_config or {}).get("allows_na", False))
        criterion = str((evaluation.evaluation_config or {}).get("prompt", ""))
        user = judge_prompt(criterion, item.input, output, allows_na)
        target = work.judges[evaluation.id]
        judged: Outcome[Verdict] = await call_model(
            worker.client,
            settings,
            worker.gates,
            exp.team_id,
            target,
            partial(_judge_request, target.model, user, allows_na, settings),
            partial(parse_verdict, allows_na=allows_na),
            lambda: _spend_trial(worker, exp.team_id),
            _ledger(exp, item.id, evaluation.id, "judge"),
        )
        status = await _write(
            worker, work, item, evaluation, judged.value, judged.error, judged, generated, pending
        )
        pending = []
    return status


def _judge_request(
    model: str, user: str, allows_na: bool, settings: Settings, note: str | None
) -> StructuredRequest:
    return judge_request(model, user, allows_na, settings.summary_timeout_seconds, retry_note=note)


def _ledger(
    exp: Experiment, item_id: uuid.UUID, evaluation_id: uuid.UUID | None, purpose: str
) -> dict[str, Any]:
    return {
        "experiment_id": exp.id,
        "team_id": exp.team_id,
        "dataset_item_id": item_id,
        "evaluation_id": evaluation_id,
        "purpose": purpose,
    }


async def _write(
    worker: Worker,
    work: ChunkPlan,
    item: store.Item,
    evaluation: Evaluation,
    verdict: Verdict | None,
    error: str | None,
    outcome: Outcome[Any],
    generated: Any,
    earlier_calls: list[dict[str, Any]],
) -> str:
    """Write the verdict with its ledger rows; returns the experiment's status (cancelled?)."""
    result = {
        "evaluation_id": evaluation.id,
        "generated_output": generated,
        "verdict": verdict.verdict if verdict else "error",
        "reasoning": verdict.reasoning if verdict else "",
        "error": None if verdict else (error or "the model gave no usable answer"),
        "latency_ms": outcome.latency_ms,
        "input_tokens": outcome.input_tokens,
        "output_tokens": outcome.output_tokens,
    }
    async with worker.sessionmaker() as session:
        status, _ = await verdicts.write(
            session,
            experiment_id=work.exp.id,
            team_id=work.exp.team_id,
            item_id=item.id,
            trace_id=item.ref_trace_id,
            result=result,
            calls=[*earlier_calls, *outcome.calls],
        )
    return status
