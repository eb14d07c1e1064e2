"""All SQL of provider keys: one team's keys (`ProviderKeyRepository`), and the operator-wide
batches `llma rotate-encryption-keys` walks (the one place that reads every team's keys)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import Select, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from app.db.base import utcnow
from app.models import LLMProviderKey


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

    async def mark_used(self, key_id: uuid.UUID) -> None:
        """Set `last_used_at` (SPEC §5.3: every provider call made with a stored key)."""
        await self.save(key_id, last_used_at=utcnow())


# --- every team's keys, for the CLI's key rotation only -------------------------------------


async def secrets_after(
    session: AsyncSession, last_id: uuid.UUID | None, limit: int
) -> list[tuple[uuid.UUID, str]]:
    """The next `limit` (id, encrypted secret) pairs of all teams, in id order after `last_id`."""
    statement = (
        select(LLMProviderKey.id, LLMProviderKey.encrypted_api_key)
        .order_by(LLMProviderKey.id)
        .limit(limit)
    )
    if last_id is not None:
        statement = statement.where(LLMProviderKey.id > last_id)
    rows = (await session.execute(statement)).all()
    return [(row.id, row.encrypted_api_key) for row in rows]


async def store_secret(session: AsyncSession, key_id: uuid.UUID, token: str) -> None:
    await session.execute(
        update(LLMProviderKey)
        .where(LLMProviderKey.id == key_id)
        .values(encrypted_api_key=token)
        .execution_options(synchronize_session=False)
    )
