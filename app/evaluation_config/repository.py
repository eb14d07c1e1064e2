"""All SQL of one team's evaluation config row: read (created on first read), the active key,
and the trial-evaluation counter."""

from __future__ import annotations

import uuid

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from app.db.base import uuid7
from app.models import EvaluationConfig, LLMProviderKey


class EvaluationConfigRepository:
    """Bound to one team: every statement is filtered by its `team_id`."""

    def __init__(self, session: AsyncSession, team_id: int) -> None:
        self.session = session
        self.team_id = team_id

    async def config(self, trial_eval_limit: int) -> EvaluationConfig:
        """The team's config with its active key (and the key's creator) loaded, created on
        first read with `trial_eval_limit` (safe against a concurrent first read)."""
        statement = (
            select(EvaluationConfig)
            .where(EvaluationConfig.team_id == self.team_id)
            .options(
                selectinload(EvaluationConfig.active_provider_key).selectinload(
                    LLMProviderKey.created_by
                )
            )
            .execution_options(populate_existing=True)
        )
        config = (await self.session.scalars(statement)).one_or_none()
        if config is not None:
            return config
        await self.session.execute(
            insert(EvaluationConfig)
            .values(id=uuid7(), team_id=self.team_id, trial_eval_limit=trial_eval_limit)
            .on_conflict_do_nothing(index_elements=[EvaluationConfig.team_id])
        )
        return (await self.session.scalars(statement)).one()

    async def active_key_id(self) -> uuid.UUID | None:
        return await self.session.scalar(
            select(EvaluationConfig.active_provider_key_id).where(
                EvaluationConfig.team_id == self.team_id
            )
        )

    async def set_active(self, key_id: uuid.UUID | None, trial_eval_limit: int) -> None:
        await self.config(trial_eval_limit)
        await self.session.execute(
            update(EvaluationConfig)
            .where(EvaluationConfig.team_id == self.team_id)
            .values(active_provider_key_id=key_id)
            .execution_options(synchronize_session=False)
        )

    async def count_trial_eval(self) -> None:
        """One summary computed with the operator's default key uses one trial eval."""
        await self.session.execute(
            update(EvaluationConfig)
            .where(EvaluationConfig.team_id == self.team_id)
            .values(trial_evals_used=EvaluationConfig.trial_evals_used + 1)
            .execution_options(synchronize_session=False)
        )
