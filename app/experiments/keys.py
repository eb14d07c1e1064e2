"""Which key and model each call of an experiment uses (SPEC: evaluation key, else the team's
active key, else the operator's default key on trial evals)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.crypto import DecryptionError, SecretBox
from app.evaluation_config.repository import EvaluationConfigRepository
from app.models import Evaluation, LLMProviderKey
from app.provider_keys.repository import ProviderKeyRepository
from app.provider_keys.service import credentials_for_key
from app.providers.base import Credentials
from app.providers.registry import credentials_for
from app.settings import Settings


class KeyUnavailable(Exception):
    """No usable key: the experiment stops `failed` with this reason."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Target:
    credentials: Credentials
    model: str
    key_id: uuid.UUID | None
    source: str  # evaluation | active | default
    uses_trial: bool

    @property
    def provider(self) -> str:
        return self.credentials.provider


def _model(configured: dict[str, Any] | None, provider: str, settings: Settings) -> str:
    """The configured model when it names this provider, else the provider's default model."""
    if configured and configured.get("model") and configured.get("provider") == provider:
        return str(configured["model"])
    return settings.summary_model_for(provider)


def _team_key(settings: Settings, box: SecretBox, key: LLMProviderKey) -> Credentials:
    try:
        return credentials_for_key(settings, box, key)
    except DecryptionError:
        raise KeyUnavailable("provider_key_unreadable") from None


async def resolve(
    session: AsyncSession,
    settings: Settings,
    box: SecretBox,
    team_id: int,
    *,
    key_id: uuid.UUID | None,
    key_named: bool,
    configured: dict[str, Any] | None,
    model: str | None = None,
) -> Target:
    """`key_named`: the configuration named a key (deleted since → `provider_key_deleted`)."""
    repo = ProviderKeyRepository(session, team_id)
    if key_named:
        key = None if key_id is None else await repo.get(key_id)
        if key is None:
            raise KeyUnavailable("provider_key_deleted")
        credentials = _team_key(settings, box, key)
        chosen = model or _model(configured, key.provider, settings)
        return Target(credentials, chosen, key.id, "evaluation", uses_trial=False)
    config = await EvaluationConfigRepository(session, team_id).config(settings.trial_eval_limit)
    active = config.active_provider_key
    if active is not None:
        credentials = _team_key(settings, box, active)
        chosen = model or _model(configured, active.provider, settings)
        return Target(credentials, chosen, active.id, "active", uses_trial=False)
    provider, secret = settings.default_llm_provider, settings.default_llm_api_key
    if provider and secret and secret.get_secret_value():
        credentials = credentials_for(settings, provider, secret.get_secret_value())
        chosen = model or _model(configured, provider, settings)
        return Target(credentials, chosen, None, "default", uses_trial=True)
    raise KeyUnavailable("no_provider_key")


async def judge_target(
    session: AsyncSession, settings: Settings, box: SecretBox, evaluation: Evaluation
) -> Target:
    configured = evaluation.model_configuration
    named = bool(configured and configured.get("provider_key_id"))
    return await resolve(
        session,
        settings,
        box,
        evaluation.team_id,
        key_id=evaluation.model_provider_key_id,
        key_named=named,
        configured=configured,
    )


async def generate_target(
    session: AsyncSession,
    settings: Settings,
    box: SecretBox,
    team_id: int,
    generate: dict[str, Any],
) -> Target:
    raw = generate.get("provider_key_id")
    return await resolve(
        session,
        settings,
        box,
        team_id,
        key_id=uuid.UUID(raw) if raw else None,
        key_named=bool(raw),
        configured=None,
        model=str(generate["model"]),
    )
