"""SQL of the queue's tasks: planning chunks, reading items, writing verdicts exactly once.

Every function runs inside one short transaction opened by the caller (`transaction`).
Experiments are addressed by id here: the tasks received the id from our own queue, and every
row they write carries the experiment's team.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import driver
from app.db.base import utcnow, uuid7
from app.db.driver import Statement
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
) -> tuple[Experiment, ExperimentChunk] | None:
    """The experiment and one of its chunks, in one statement."""
    row = (
        await session.execute(
            select(Experiment, ExperimentChunk)
            .join(ExperimentChunk, ExperimentChunk.experiment_id == Experiment.id)
            .where(Experiment.id == experiment_id, ExperimentChunk.seq == seq)
            .execution_options(populate_existing=True)
        )
    ).first()
    return None if row is None else (row[0], row[1])


async def items(
    session: AsyncSession, exp: Experiment, part: ExperimentChunk
) -> tuple[list[Item], dict[tuple[uuid.UUID, uuid.UUID], Any]]:
    """The chunk's live items, and the verdicts already written for them: (item, evaluation)
    → generated output. One statement (an outer join on the verdicts' unique key)."""
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
            ExperimentResult.evaluation_id,
            ExperimentResult.generated_output,
        )
        .outerjoin(
            ExperimentResult,
            (ExperimentResult.experiment_id == exp.id)
            & (ExperimentResult.dataset_item_id == DatasetItem.id),
        )
        .where(*conditions)
        .order_by(DatasetItem.id)
    )
    found: dict[uuid.UUID, Item] = {}
    written: dict[tuple[uuid.UUID, uuid.UUID], Any] = {}
    for r in rows:
        if r.id not in found:
            found[r.id] = Item(r.id, r.input, r.output, r.metadata_, r.ref_trace_id)
        if r.evaluation_id is not None:
            written[(r.id, r.evaluation_id)] = r.generated_output
    return list(found.values()), written


# One statement, so one implicit transaction: the chunk is marked done once, and only the
# statement that marked it moves the experiment's counters (finishing it after its last
# chunk). Concurrent chunks queue on the experiment's row, and each sees the others' counts
# (READ COMMITTED re-reads the row it waited for).
_LAST_CHUNK = "status = 'running' AND planned AND chunks_done + 1 = chunks_total"
COMPLETE_CHUNK = Statement(
    text(
        f"""
        WITH marked AS (
            UPDATE experiment_chunks SET done_at = now()
            WHERE experiment_id = CAST(:experiment_id AS uuid) AND seq = CAST(:seq AS integer)
              AND done_at IS NULL
            RETURNING seq
        )
        UPDATE experiments SET
            chunks_done = chunks_done + 1,
            total_items = total_items - CAST(:vanished AS integer),
            total_pairs = total_pairs - CAST(:vanished AS integer) * CAST(:evaluations AS integer),
            status = CASE WHEN {_LAST_CHUNK} THEN 'succeeded' ELSE status END,
            finished_at = CASE WHEN {_LAST_CHUNK} THEN now() ELSE finished_at END
        WHERE id = CAST(:experiment_id AS uuid) AND EXISTS (SELECT 1 FROM marked)
        RETURNING status
        """
    )
)


async def complete_chunk(session: AsyncSession, exp: Experiment, seq: int, vanished: int) -> bool:
    """Mark a chunk done once; items deleted since planning leave the totals. True: finished."""
    row = await driver.fetchrow(
        session,
        COMPLETE_CHUNK,
        {
            "experiment_id": exp.id,
            "seq": seq,
            "vanished": vanished,
            "evaluations": len(exp.evaluation_ids),
        },
    )
    return row is not None and row["status"] == "succeeded"


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
