"""All SQL the experiment endpoints run, bound to one team."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased, selectinload

from app.db.base import utcnow
from app.models import (
    Dataset,
    DatasetItem,
    Evaluation,
    Experiment,
    ExperimentCall,
    ExperimentResult,
    LLMProviderKey,
)


class ExperimentRepository:
    def __init__(self, session: AsyncSession, team_id: int) -> None:
        self.session = session
        self.team_id = team_id

    # --- what an experiment refers to ---------------------------------------------------

    async def live_dataset(self, dataset_id: uuid.UUID) -> bool:
        found = await self.session.scalar(
            select(Dataset.id).where(
                Dataset.id == dataset_id,
                Dataset.team_id == self.team_id,
                Dataset.deleted.is_(False),
            )
        )
        return found is not None

    async def has_items(self, dataset_id: uuid.UUID) -> bool:
        found = await self.session.scalar(
            select(DatasetItem.id)
            .where(
                DatasetItem.team_id == self.team_id,
                DatasetItem.dataset_id == dataset_id,
                DatasetItem.deleted.is_(False),
            )
            .limit(1)
        )
        return found is not None

    async def live_item(self, item_id: uuid.UUID) -> DatasetItem | None:
        return await self.session.scalar(
            select(DatasetItem)
            .join(Dataset, Dataset.id == DatasetItem.dataset_id)
            .where(
                DatasetItem.id == item_id,
                DatasetItem.team_id == self.team_id,
                DatasetItem.deleted.is_(False),
                Dataset.deleted.is_(False),
            )
        )

    async def live_evaluations(self, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Evaluation]:
        rows = await self.session.scalars(
            select(Evaluation).where(
                Evaluation.team_id == self.team_id,
                Evaluation.id.in_(ids),
                Evaluation.deleted.is_(False),
            )
        )
        return {row.id: row for row in rows}

    async def team_key(self, key_id: uuid.UUID) -> bool:
        found = await self.session.scalar(
            select(LLMProviderKey.id).where(
                LLMProviderKey.id == key_id, LLMProviderKey.team_id == self.team_id
            )
        )
        return found is not None

    async def evaluation_names(self, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, str]:
        rows = await self.session.execute(
            select(Evaluation.id, Evaluation.name).where(
                Evaluation.team_id == self.team_id, Evaluation.id.in_(ids)
            )
        )
        return {row.id: row.name for row in rows}

    # --- experiments ------------------------------------------------------------------------

    def _experiments(self) -> Any:
        return (
            select(Experiment)
            .options(selectinload(Experiment.created_by))
            .where(Experiment.team_id == self.team_id)
        )

    async def add(self, experiment: Experiment) -> None:
        experiment.team_id = self.team_id
        self.session.add(experiment)
        await self.session.flush()

    async def get(self, experiment_id: uuid.UUID) -> Experiment | None:
        statement = self._experiments().where(Experiment.id == experiment_id)
        result = await self.session.scalars(statement.execution_options(populate_existing=True))
        found: Experiment | None = result.one_or_none()
        return found

    async def page(
        self, dataset: uuid.UUID | None, status: str | None, limit: int, offset: int
    ) -> tuple[int, list[Experiment]]:
        conditions: list[ColumnElement[bool]] = [Experiment.team_id == self.team_id]
        if dataset is not None:
            conditions.append(Experiment.dataset_id == dataset)
        if status is not None:
            conditions.append(Experiment.status == status)
        count = await self.session.scalar(select(func.count()).where(*conditions))
        rows = await self.session.scalars(
            self._experiments()
            .where(*conditions)
            .order_by(Experiment.created_at.desc(), Experiment.id.desc())
            .limit(limit)
            .offset(offset)
        )
        return int(count or 0), list(rows)

    async def cancel(self, experiment_id: uuid.UUID) -> None:
        await self.session.execute(
            update(Experiment)
            .where(
                Experiment.id == experiment_id,
                Experiment.team_id == self.team_id,
                Experiment.status.in_(("queued", "running")),
            )
            .values(status="cancelled", status_reason="cancelled_by_user", finished_at=utcnow())
        )

    async def tallies(self, experiment_ids: Sequence[uuid.UUID]) -> Sequence[Any]:
        """(experiment_id, evaluation_id, verdict, count) of the experiments' verdicts."""
        result = ExperimentResult
        rows = await self.session.execute(
            select(result.experiment_id, result.evaluation_id, result.verdict, func.count())
            .where(result.experiment_id.in_(experiment_ids), result.team_id == self.team_id)
            .group_by(result.experiment_id, result.evaluation_id, result.verdict)
        )
        return rows.all()

    async def usage(self, experiment_ids: Sequence[uuid.UUID]) -> Sequence[Any]:
        """(experiment_id, provider, calls, input tokens, output tokens), from the ledger."""
        call = ExperimentCall
        rows = await self.session.execute(
            select(
                call.experiment_id,
                call.provider,
                func.count(),
                func.coalesce(func.sum(call.input_tokens), 0),
                func.coalesce(func.sum(call.output_tokens), 0),
            )
            .where(call.experiment_id.in_(experiment_ids), call.team_id == self.team_id)
            .group_by(call.experiment_id, call.provider)
            .order_by(call.experiment_id, call.provider)
        )
        return rows.all()

    # --- results and calls ------------------------------------------------------------------

    async def results(
        self,
        experiment_id: uuid.UUID,
        verdict: str | None,
        evaluation: uuid.UUID | None,
        limit: int,
        offset: int,
        after: uuid.UUID | None = None,
    ) -> tuple[int, list[ExperimentResult]]:
        conditions: list[ColumnElement[bool]] = [
            ExperimentResult.experiment_id == experiment_id,
            ExperimentResult.team_id == self.team_id,
        ]
        if verdict is not None:
            conditions.append(ExperimentResult.verdict == verdict)
        if evaluation is not None:
            conditions.append(ExperimentResult.evaluation_id == evaluation)
        count = await self.session.scalar(select(func.count()).where(*conditions))
        statement = select(ExperimentResult).where(*conditions)
        if after is not None:
            statement = statement.where(ExperimentResult.id > after)
        else:
            statement = statement.offset(offset)
        rows = await self.session.scalars(statement.order_by(ExperimentResult.id).limit(limit))
        return int(count or 0), list(rows)

    async def calls(
        self, experiment_id: uuid.UUID, limit: int, offset: int
    ) -> tuple[int, list[ExperimentCall]]:
        conditions = [
            ExperimentCall.experiment_id == experiment_id,
            ExperimentCall.team_id == self.team_id,
        ]
        count = await self.session.scalar(select(func.count()).where(*conditions))
        rows = await self.session.scalars(
            select(ExperimentCall)
            .where(*conditions)
            .order_by(ExperimentCall.id)
            .limit(limit)
            .offset(offset)
        )
        return int(count or 0), list(rows)

    # --- comparison ---------------------------------------------------------------------------

    def _pairs(self, base: uuid.UUID, head: uuid.UUID) -> tuple[Any, Any, list[Any]]:
        b, h = aliased(ExperimentResult), aliased(ExperimentResult)
        judged = ("pass", "fail")
        join = [
            h.experiment_id == head,
            h.team_id == self.team_id,
            h.dataset_item_id == b.dataset_item_id,
            h.evaluation_id == b.evaluation_id,
            h.verdict.in_(judged),
        ]
        where = [b.experiment_id == base, b.team_id == self.team_id, b.verdict.in_(judged)]
        return b, h, [*join, *where]

    async def paired_counts(self, base: uuid.UUID, head: uuid.UUID) -> Sequence[Any]:
        """(evaluation_id, base verdict, head verdict, count) over items judged in both."""
        b, h, conditions = self._pairs(base, head)
        rows = await self.session.execute(
            select(b.evaluation_id, b.verdict, h.verdict, func.count())
            .select_from(b)
            .join(h, conditions[0])
            .where(*conditions[1:])
            .group_by(b.evaluation_id, b.verdict, h.verdict)
        )
        return rows.all()

    async def regressed(
        self, base: uuid.UUID, head: uuid.UUID, limit: int, offset: int
    ) -> tuple[int, Sequence[Any]]:
        b, h, conditions = self._pairs(base, head)
        conditions += [b.verdict == "pass", h.verdict == "fail"]
        count = await self.session.scalar(
            select(func.count()).select_from(b).join(h, conditions[0]).where(*conditions[1:])
        )
        rows = await self.session.execute(
            select(b.dataset_item_id, b.evaluation_id, b.reasoning, h.reasoning)
            .select_from(b)
            .join(h, conditions[0])
            .where(*conditions[1:])
            .order_by(b.dataset_item_id, b.evaluation_id)
            .limit(limit)
            .offset(offset)
        )
        return int(count or 0), rows.all()
