"""All SQL for one team's provider keys and its evaluation config."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import Select, delete, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from app.db.base import uuid7
from app.models import EvaluationConfig, LLMProviderKey


class ProviderKeyRepository:
    """Bound to one team: every statement starts from `_keys()`, already filtered by team."""

    def __init__(self, session: AsyncSession, team_id: int) -> None:
        self.session = session
        self.team_id = team_id

    def _keys(self) -> Select[LLMProviderKey]:
        return (
            select(LLMProviderKey)
            .where(LLMProviderKey.team_id == self.team_id)
            .options(selectinload(LLMProviderKey.created_by))
        )

    async def page(self, *, offset: int, limit: int) -> tuple[int, list[LLMProviderKey]]:
        count = await self.session.scalar(
            select(func.count())
            .select_from(LLMProviderKey)
            .where(LLMProviderKey.team_id == self.team_id)
        )
        statement = (
            self._keys()
            .order_by(LLMProviderKey.created_at.desc(), LLMProviderKey.id.desc())
            .offset(offset)
            .limit(limit)
        )
        rows = (await self.session.scalars(statement)).all()
        return int(count or 0), list(rows)

    async def get(self, key_id: uuid.UUID) -> LLMProviderKey | None:
        # populate_existing: after a released transaction, read what is in the database now.
        statement = self._keys().where(LLMProviderKey.id == key_id)
        result = await self.session.scalars(statement.execution_options(populate_existing=True))
        return result.one_or_none()

    async def get_for_reference(self, key_id: uuid.UUID) -> LLMProviderKey | None:
        """`get`, holding the row against a concurrent DELETE until this transaction ends
        (FOR KEY SHARE), so a foreign key set to it now cannot fail or deadlock; a key deleted
        meanwhile reads as missing."""
        statement = self._keys().where(LLMProviderKey.id == key_id)
        statement = statement.with_for_update(read=True, key_share=True)
        result = await self.session.scalars(statement.execution_options(populate_existing=True))
        return result.one_or_none()

    async def add(self, key: LLMProviderKey) -> LLMProviderKey:
        self.session.add(key)
        await self.session.flush()
        # created_by is lazy="raise"; load it explicitly for the response.
        await self.session.refresh(key, attribute_names=["created_by"])
        return key

    async def delete(self, key: LLMProviderKey) -> None:
        # The evaluation config's FK is ON DELETE SET NULL: deleting the active key clears it.
        await self.session.execute(
            delete(LLMProviderKey).where(
                LLMProviderKey.team_id == self.team_id, LLMProviderKey.id == key.id
            )
        )
        self.session.expunge(key)

    async def save(self, key_id: uuid.UUID, **values: Any) -> None:
        """One UPDATE of the key's row (by id and team), whatever the session holds."""
        await self.session.execute(
            update(LLMProviderKey)
            .where(LLMProviderKey.team_id == self.team_id, LLMProviderKey.id == key_id)
            .values(**values)
            .execution_options(synchronize_session=False)
        )

    async def cache_models(self, key_id: uuid.UUID, models: list[str], at: dt.datetime) -> None:
        await self.save(key_id, models_cache=models, models_cached_at=at, last_used_at=at)

    # --- evaluation config ---------------------------------------------------------------------

    async def config(self, trial_eval_limit: int) -> EvaluationConfig:
        """The team's config, created on first read (safe against a concurrent first read)."""
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
