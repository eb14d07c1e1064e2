"""All SQL for evaluations and runs, bound to one team."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, UnaryExpression, and_, func, or_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from app.db.base import utcnow, uuid7
from app.evaluations.rules import RunFilter
from app.evaluations.schemas import RunIn
from app.models import Evaluation, EvaluationRun, LLMProviderKey, User

ORDERINGS: dict[str, UnaryExpression[Any]] = {
    "created_at": Evaluation.created_at.asc(),
    "-created_at": Evaluation.created_at.desc(),
    "updated_at": Evaluation.updated_at.asc(),
    "-updated_at": Evaluation.updated_at.desc(),
    "name": Evaluation.name.asc(),
    "-name": Evaluation.name.desc(),
}


@dataclass(frozen=True)
class EvaluationFilters:
    search: str | None = None
    enabled: bool | None = None
    ids: Sequence[uuid.UUID] | None = None
    order_by: Sequence[str] = ("-created_at",)


def verdict_clause(verdict: RunFilter) -> ColumnElement[bool] | None:
    """SQL for `rules.verdict_of` (SPEC §5.7's pass/fail/N/A), None for `all`."""
    run = EvaluationRun
    applicable = run.applicable.is_not(False)
    if verdict == "pass":
        return and_(run.result.is_(True), applicable)
    if verdict == "fail":
        return and_(run.result.is_(False), applicable)
    if verdict == "na":
        return or_(run.applicable.is_(False), run.result.is_(None))
    return None


class EvaluationRepository:
    def __init__(self, session: AsyncSession, team_id: int) -> None:
        self.session = session
        self.team_id = team_id

    def _evaluations(self, *, include_deleted: bool = False) -> Select[Evaluation, str]:
        # The key name is read-only output (`provider_key_name`); one outer join, no N+1.
        statement = (
            select(Evaluation, LLMProviderKey.name)
            .outerjoin(LLMProviderKey, LLMProviderKey.id == Evaluation.model_provider_key_id)
            .options(selectinload(Evaluation.created_by))
            .where(Evaluation.team_id == self.team_id)
        )
        return statement if include_deleted else statement.where(Evaluation.deleted.is_(False))

    async def page(
        self, filters: EvaluationFilters, limit: int, offset: int
    ) -> tuple[int, list[tuple[Evaluation, str | None]]]:
        extra: list[ColumnElement[bool]] = []
        if filters.search:
            extra.append(
                or_(
                    Evaluation.name.icontains(filters.search, autoescape=True),
                    Evaluation.description.icontains(filters.search, autoescape=True),
                )
            )
        if filters.enabled is not None:
            extra.append(Evaluation.enabled.is_(filters.enabled))
        if filters.ids is not None:
            extra.append(Evaluation.id.in_(filters.ids))
        count = await self.session.scalar(
            select(func.count())
            .select_from(Evaluation)
            .where(Evaluation.team_id == self.team_id, Evaluation.deleted.is_(False), *extra)
        )
        ordering = [ORDERINGS[name] for name in filters.order_by] + [Evaluation.id.desc()]
        statement = self._evaluations().where(*extra).order_by(*ordering)
        rows = await self.session.execute(statement.limit(limit).offset(offset))
        return int(count or 0), [(row[0], row[1]) for row in rows]

    async def get(
        self, evaluation_id: uuid.UUID, *, include_deleted: bool = False
    ) -> tuple[Evaluation, str | None] | None:
        statement = self._evaluations(include_deleted=include_deleted)
        row = (await self.session.execute(statement.where(Evaluation.id == evaluation_id))).first()
        return None if row is None else (row[0], row[1])

    async def live(self, evaluation_id: uuid.UUID) -> Evaluation | None:
        """The team's non-deleted evaluation, without the extras the read shape needs."""
        return await self.session.scalar(
            select(Evaluation).where(
                Evaluation.id == evaluation_id,
                Evaluation.team_id == self.team_id,
                Evaluation.deleted.is_(False),
            )
        )

    async def provider_key(self, key_id: uuid.UUID) -> LLMProviderKey | None:
        """The team's key, held against a concurrent DELETE until this transaction ends (FOR
        KEY SHARE): the evaluation's foreign key to it cannot fail; a deleted key reads as None."""
        return await self.session.scalar(
            select(LLMProviderKey)
            .where(LLMProviderKey.id == key_id, LLMProviderKey.team_id == self.team_id)
            .with_for_update(read=True, key_share=True)
            .execution_options(populate_existing=True)
        )

    async def add(self, evaluation: Evaluation) -> None:
        """Store a new evaluation of the team, its author loaded for the response."""
        evaluation.team_id = self.team_id
        if evaluation.created_by_id is not None:
            evaluation.created_by = await self.session.get(User, evaluation.created_by_id)
        self.session.add(evaluation)
        await self.session.flush()

    async def update(self, evaluation: Evaluation, values: dict[str, Any]) -> None:
        """Write these column values of one of the team's evaluations (`updated_at` moves)."""
        for name, value in values.items():
            setattr(evaluation, name, value)
        await self.session.flush()

    # --- runs ---------------------------------------------------------------------------------

    async def insert_runs(
        self, evaluation_id: uuid.UUID, runs: Sequence[RunIn]
    ) -> tuple[list[uuid.UUID], set[uuid.UUID]]:
        """Insert a batch in one statement; ids already stored in this evaluation are skipped.

        Returns the id of each run, in order (a new UUIDv7 where none was sent), and the ids
        this statement stored.
        """
        now = utcnow()
        ids = [run.id or uuid7() for run in runs]
        rows = [
            {
                "id": run_id,
                "team_id": self.team_id,
                "evaluation_id": evaluation_id,
                "generation_id": run.generation_id,
                "trace_id": run.trace_id,
                "result": run.result,
                "applicable": run.applicable,
                "reasoning": run.reasoning,
                "timestamp": run.timestamp or now,
                "created_at": now,
            }
            for run, run_id in zip(runs, ids, strict=True)
        ]
        # ON CONFLICT DO NOTHING makes retries safe, also for ids repeated within a batch (the
        # first of them is stored). The key is (team, evaluation, id): no other team's or
        # evaluation's run is ever touched or revealed.
        statement = (
            insert(EvaluationRun)
            .values(rows)
            .on_conflict_do_nothing(
                index_elements=[
                    EvaluationRun.team_id,
                    EvaluationRun.evaluation_id,
                    EvaluationRun.id,
                ]
            )
            .returning(EvaluationRun.id)
        )
        return ids, set((await self.session.execute(statement)).scalars())

    async def runs_by_id(
        self, evaluation_id: uuid.UUID, ids: set[uuid.UUID]
    ) -> dict[uuid.UUID, EvaluationRun]:
        """The evaluation's stored runs with these ids."""
        runs = await self.session.scalars(
            select(EvaluationRun).where(
                EvaluationRun.team_id == self.team_id,
                EvaluationRun.evaluation_id == evaluation_id,
                EvaluationRun.id.in_(ids),
            )
        )
        return {run.id: run for run in runs}

    def _runs(self, evaluation_id: uuid.UUID, verdict: RunFilter) -> list[ColumnElement[bool]]:
        conditions = [
            EvaluationRun.team_id == self.team_id,
            EvaluationRun.evaluation_id == evaluation_id,
        ]
        clause = verdict_clause(verdict)
        return conditions if clause is None else [*conditions, clause]

    async def list_runs(
        self, evaluation_id: uuid.UUID, verdict: RunFilter, limit: int, offset: int
    ) -> tuple[int, Sequence[EvaluationRun]]:
        conditions = self._runs(evaluation_id, verdict)
        count = await self.session.scalar(select(func.count()).where(*conditions))
        runs = await self.session.scalars(
            select(EvaluationRun)
            .where(*conditions)
            .order_by(EvaluationRun.timestamp.desc(), EvaluationRun.id.desc())
            .limit(limit)
            .offset(offset)
        )
        return int(count or 0), runs.all()

    async def latest_runs(
        self,
        evaluation_id: uuid.UUID,
        verdict: RunFilter,
        generation_ids: Sequence[str] | None,
        limit: int,
    ) -> Sequence[EvaluationRun]:
        """The newest `limit` runs matching the filter (and the generation ids, when given)."""
        conditions = self._runs(evaluation_id, verdict)
        if generation_ids:
            conditions.append(EvaluationRun.generation_id.in_(generation_ids))
        runs = await self.session.scalars(
            select(EvaluationRun)
            .where(*conditions)
            .order_by(EvaluationRun.timestamp.desc(), EvaluationRun.id.desc())
            .limit(limit)
        )
        return runs.all()
