"""Request and response bodies of the evaluation config, and its one renderer."""

from __future__ import annotations

import uuid
from typing import Any

from app.crypto import SecretBox
from app.models import EvaluationConfig
from app.provider_keys.schemas import ProviderKeyRead, render_key
from app.web.schemas import APIModel, Timestamp


class EvaluationConfigRead(APIModel):
    trial_eval_limit: int
    trial_evals_used: int
    trial_evals_remaining: int
    active_provider_key: ProviderKeyRead | None
    created_at: Timestamp
    updated_at: Timestamp


class SetActiveKey(APIModel):
    key_id: uuid.UUID


def render_config(box: SecretBox, config: EvaluationConfig) -> dict[str, Any]:
    """The config as `EvaluationConfigRead`, its active key (loaded with it) rendered in full."""
    active = config.active_provider_key
    return {
        "trial_eval_limit": config.trial_eval_limit,
        "trial_evals_used": config.trial_evals_used,
        "trial_evals_remaining": max(0, config.trial_eval_limit - config.trial_evals_used),
        "active_provider_key": render_key(box, active, active.id) if active else None,
        "created_at": config.created_at,
        "updated_at": config.updated_at,
    }
