"""SQL of the queue's tasks: planning chunks, reading items, writing verdicts exactly once.

Every function runs inside one short transaction opened by the caller (`short_transaction`).
Experiments are addressed by id here: the tasks received the id from our own queue, and every
row they write carries the experiment's team.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import utcnow, uuid7
from app.models import (
    DatasetItem,
    Evaluation,
    EvaluationConfig,
    Experiment,
    ExperimentCall,
    ExperimentChunk,
    ExperimentResult,
)

ACTIVE = ("queued", "running")


@dataclass(frozen=True)
class Item:
    id: uuid.UUID
    input: Any
    output: Any
    metadata: Any
    ref_trace_id: str | None

    def as_template_values(self) -> dict[str, Any]:
        return {"input": self.input, "output": self.output, "metadata": self.metadata}


async def experiment(session: AsyncSession, experiment_id: uuid.UUID) -> Experiment | None:
    return await session.get(Experiment, experiment_id, populate_existing=True)


async def status(session: AsyncSession, experiment_id: uuid.UUID) -> str | None:
    return await session.scalar(select(Experiment.status).where(Experiment.id == experiment_id))


async def evaluations(
    session: AsyncSession, team_id: int, ids: Sequence[uuid.UUID]
) -> list[Evaluation]:
    rows = await session.scalars(
        select(Evaluation).where(Evaluation.team_id == team_id, Evaluation.id.in_(ids))
    )
    return list(rows)


async def start(session: AsyncSession, experiment_id: uuid.UUID) -> None:
    await session.execute(
        update(Experiment)
        .where(Experiment.id == experiment_id, Experiment.status == "queued")
        .values(status="running", started_at=utcnow())
    )


async def stop(session: AsyncSession, experiment_id: uuid.UUID, state: str, reason: str) -> bool:
    """Move a queued or running experiment to a final state; False when it already had one."""
    result = await session.execute(
        update(Experiment)
        .where(Experiment.id == experiment_id, Experiment.status.in_(ACTIVE))
        .values(status=state, status_reason=reason, finished_at=utcnow())
        .returning(Experiment.id)
    )
    return result.first() is not None


# --- planning ----------------------------------------------------------------------------


async def last_chunk(
    session: AsyncSession, experiment_id: uuid.UUID
) -> tuple[int, uuid.UUID | None]:
    """(next seq, last planned item id): where an interrupted planning resumes."""
    row = (
        await session.execute(
            select(ExperimentChunk.seq, ExperimentChunk.last_id)
            .where(ExperimentChunk.experiment_id == experiment_id)
            .order_by(ExperimentChunk.seq.desc())
            .limit(1)
        )
    ).first()
    return (0, None) if row is None else (row.seq + 1, row.last_id)


async def item_ids_after(
    session: AsyncSession, exp: Experiment, after: uuid.UUID | None, limit: int
) -> list[uuid.UUID]:
    """The next live item ids by keyset (index `ix_dataset_items_dataset_keyset`)."""
    statement = select(DatasetItem.id).where(
        DatasetItem.dataset_id == exp.dataset_id,
        DatasetItem.team_id == exp.team_id,
        DatasetItem.deleted.is_(False),
    )
    if exp.item_id is not None:
        statement = statement.where(DatasetItem.id == exp.item_id)
    if after is not None:
        statement = statement.where(DatasetItem.id > after)
    return list(await session.scalars(statement.order_by(DatasetItem.id).limit(limit)))


async def add_chunks(
    session: AsyncSession,
    exp: Experiment,
    chunks: Sequence[tuple[int, uuid.UUID | None, uuid.UUID, int]],
    items: int,
) -> None:
    """Chunks as (seq, after_id, last_id, size)."""
    await session.execute(
        insert(ExperimentChunk),
        [
            {"experiment_id": exp.id, "seq": seq, "after_id": after, "last_id": last, "size": size}
            for seq, after, last, size in chunks
        ],
    )
    pairs = items * len(exp.evaluation_ids)
    await session.execute(
        update(Experiment)
        .where(Experiment.id == exp.id)
        .values(
            chunks_total=Experiment.chunks_total + len(chunks),
            total_items=Experiment.total_items + items,
            total_pairs=Experiment.total_pairs + pairs,
        )
    )


async def planned(session: AsyncSession, experiment_id: uuid.UUID) -> None:
    await session.execute(
        update(Experiment).where(Experiment.id == experiment_id).values(planned=True)
    )
    await finish_if_complete(session, experiment_id)


async def finish_if_complete(session: AsyncSession, experiment_id: uuid.UUID) -> bool:
    result = await session.execute(
        update(Experiment)
        .where(
            Experiment.id == experiment_id,
            Experiment.status == "running",
            Experiment.planned.is_(True),
            Experiment.chunks_done == Experiment.chunks_total,
        )
        .values(status="succeeded", finished_at=utcnow())
        .returning(Experiment.id)
    )
    return result.first() is not None


# --- chunks ------------------------------------------------------------------------------


async def chunk(
    session: AsyncSession, experiment_id: uuid.UUID, seq: int
) -> ExperimentChunk | None:
    return await session.get(ExperimentChunk, (experiment_id, seq), populate_existing=True)


async def items(session: AsyncSession, exp: Experiment, part: ExperimentChunk) -> list[Item]:
    conditions = [
        DatasetItem.dataset_id == exp.dataset_id,
        DatasetItem.team_id == exp.team_id,
        DatasetItem.deleted.is_(False),
        DatasetItem.id <= part.last_id,
    ]
    if part.after_id is not None:
        conditions.append(DatasetItem.id > part.after_id)
    if exp.item_id is not None:
        conditions.append(DatasetItem.id == exp.item_id)
    rows = await session.execute(
        select(
            DatasetItem.id,
            DatasetItem.input,
            DatasetItem.output,
            DatasetItem.metadata_,
            DatasetItem.ref_trace_id,
        )
        .where(*conditions)
        .order_by(DatasetItem.id)
    )
    return [Item(r.id, r.input, r.output, r.metadata_, r.ref_trace_id) for r in rows]


async def written(
    session: AsyncSession, experiment_id: uuid.UUID, item_ids: Sequence[uuid.UUID]
) -> dict[tuple[uuid.UUID, uuid.UUID], Any]:
    """Verdicts already written for these items: (item, evaluation) → generated output."""
    rows = await session.execute(
        select(
            ExperimentResult.dataset_item_id,
            ExperimentResult.evaluation_id,
            ExperimentResult.generated_output,
        ).where(
            ExperimentResult.experiment_id == experiment_id,
            ExperimentResult.dataset_item_id.in_(item_ids),
        )
    )
    return {(r.dataset_item_id, r.evaluation_id): r.generated_output for r in rows}


async def complete_chunk(session: AsyncSession, exp: Experiment, seq: int, vanished: int) -> bool:
    """Mark a chunk done once; items deleted since planning leave the totals. True: finished."""
    marked = await session.execute(
        update(ExperimentChunk)
        .where(
            ExperimentChunk.experiment_id == exp.id,
            ExperimentChunk.seq == seq,
            ExperimentChunk.done_at.is_(None),
        )
        .values(done_at=utcnow())
        .returning(ExperimentChunk.seq)
    )
    if marked.first() is None:
        return False
    await session.execute(
        update(Experiment)
        .where(Experiment.id == exp.id)
        .values(
            chunks_done=Experiment.chunks_done + 1,
            total_items=Experiment.total_items - vanished,
            total_pairs=Experiment.total_pairs - vanished * len(exp.evaluation_ids),
        )
    )
    return await finish_if_complete(session, exp.id)


# --- verdicts, runs and the ledger -------------------------------------------------------


async def spend_trial(session: AsyncSession, team_id: int) -> bool:
    """Use one trial eval; False when none is left (the row exists: created at planning)."""
    result = await session.execute(
        update(EvaluationConfig)
        .where(
            EvaluationConfig.team_id == team_id,
            EvaluationConfig.trial_evals_used < EvaluationConfig.trial_eval_limit,
        )
        .values(trial_evals_used=EvaluationConfig.trial_evals_used + 1)
        .returning(EvaluationConfig.id)
    )
    return result.first() is not None


async def record_calls(session: AsyncSession, calls: Sequence[dict[str, Any]]) -> None:
    if calls:
        await session.execute(insert(ExperimentCall), [{"id": uuid7(), **c} for c in calls])


async def queue_depth(session: AsyncSession) -> int:
    """Chunks planned but not done, over all running experiments (for tests and metrics)."""
    value = await session.scalar(
        select(func.count())
        .select_from(ExperimentChunk)
        .join(Experiment, Experiment.id == ExperimentChunk.experiment_id)
        .where(ExperimentChunk.done_at.is_(None), Experiment.status == "running")
    )
    return int(value or 0)
