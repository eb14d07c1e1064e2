"""Evaluation-config rules (SPEC §5.6): the config is created on first read with the operator's
trial limit, and only a key of the team whose state is `ok` may become the active key."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.dependencies import TeamContext
from app.crypto import SecretBox
from app.db.session import SessionDep
from app.evaluation_config.repository import EvaluationConfigRepository
from app.evaluation_config.schemas import render_config
from app.provider_keys.repository import ProviderKeyRepository
from app.provider_keys.rules import KEY_NOT_FOUND, check_activatable, effective_state
from app.settings import Settings
from app.web.deps import SecretBoxDep, SettingsDep
from app.web.errors import NotFound


@dataclass
class EvaluationConfigService:
    session: AsyncSession
    settings: Settings
    box: SecretBox

    def _configs(self, context: TeamContext) -> EvaluationConfigRepository:
        return EvaluationConfigRepository(self.session, context.team_id)

    async def retrieve(self, context: TeamContext) -> dict[str, Any]:
        config = await self._configs(context).config(self.settings.trial_eval_limit)
        return render_config(self.box, config)

    async def set_active_key(self, context: TeamContext, key_id: uuid.UUID) -> dict[str, Any]:
        key = await ProviderKeyRepository(self.session, context.team_id).get_for_reference(key_id)
        if key is None:
            raise NotFound(KEY_NOT_FOUND)
        state, _ = effective_state(self.box, key)
        check_activatable(state, attr="key_id")
        configs = self._configs(context)
        limit = self.settings.trial_eval_limit
        await configs.set_active(key.id, limit)
        return render_config(self.box, await configs.config(limit))


def evaluation_config_service(
    session: SessionDep, settings: SettingsDep, box: SecretBoxDep
) -> EvaluationConfigService:
    return EvaluationConfigService(session, settings, box)


EvaluationConfigServiceDep = Annotated[EvaluationConfigService, Depends(evaluation_config_service)]
