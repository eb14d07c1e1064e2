"""`…/llm_analytics/evaluation_config/` (+ `set_active_key/`) and `…/llm_analytics/models/`."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query, Request

from app.auth.dependencies import CanReadProviderKeys, CanWriteProviderKeys
from app.db.session import SessionDep
from app.models import EvaluationConfig
from app.provider_keys import schemas
from app.provider_keys.model_listing import checked_key_id, checked_provider, list_models
from app.provider_keys.service import KEY_NOT_FOUND, ProviderKeyService, activation_refused
from app.web.errors import NotFound, ValidationFailed
from app.web.methods import refuse_other_methods
from app.web.openapi import error_responses
from app.web.routing import api_router

PREFIX = "/api/environments/{environment_id}/llm_analytics"
config_router = api_router(f"{PREFIX}/evaluation_config", "Evaluation config")
models_router = api_router(f"{PREFIX}/models", "Models")


def _config_payload(service: ProviderKeyService, config: EvaluationConfig) -> dict[str, Any]:
    active = config.active_provider_key
    return {
        "trial_eval_limit": config.trial_eval_limit,
        "trial_evals_used": config.trial_evals_used,
        "trial_evals_remaining": max(0, config.trial_eval_limit - config.trial_evals_used),
        "active_provider_key": service.present(active, active.id) if active else None,
        "created_at": config.created_at,
        "updated_at": config.updated_at,
    }


@config_router.get(
    "/", response_model=schemas.EvaluationConfigRead, responses=error_responses(401, 403, 404)
)
async def retrieve_evaluation_config(
    context: CanReadProviderKeys, request: Request, session: SessionDep
) -> dict[str, Any]:
    """The team's evaluation config (created on first read). Scope `llm_provider_key:read`."""
    service = ProviderKeyService.from_request(request, session, context)
    config = await service.repo.config(service.settings.trial_eval_limit)
    return _config_payload(service, config)


@config_router.post(
    "/set_active_key/",
    response_model=schemas.EvaluationConfigRead,
    responses=error_responses(400, 401, 403, 404, 413, 415),
)
async def set_active_key(
    context: CanWriteProviderKeys, request: Request, session: SessionDep, body: schemas.SetActiveKey
) -> dict[str, Any]:
    """Make a key (state `ok`) the team's active key for evaluations and summaries.
    Scope `llm_provider_key:write`."""
    service = ProviderKeyService.from_request(request, session, context)
    key = await service.repo.get_for_reference(body.key_id)
    if key is None:
        raise NotFound(KEY_NOT_FOUND)
    state, _ = service.effective_state(key)
    if state != "ok":
        raise ValidationFailed(activation_refused(state), code="invalid", attr="key_id")
    limit = service.settings.trial_eval_limit
    await service.repo.set_active(key.id, limit)
    return _config_payload(service, await service.repo.config(limit))


@models_router.get(
    "/", response_model=schemas.ModelList, responses=error_responses(400, 401, 403, 404, 429, 502)
)
async def list_llm_models(
    context: CanReadProviderKeys,
    request: Request,
    session: SessionDep,
    provider: Annotated[str, Query(description="Provider name; `google` means gemini.")],
    key_id: Annotated[
        str | None, Query(description="A provider key of the team: list its live models.")
    ] = None,
) -> dict[str, Any]:
    """Models for a provider: the curated list, or with `key_id` exactly the provider's live
    list for that key, the models it can use (curated ids among them first, in curated order,
    then the rest sorted by id; cached 10 minutes). Scope `llm_provider_key:read`."""
    service = ProviderKeyService.from_request(request, session, context)
    models = await list_models(service, checked_provider(provider), checked_key_id(key_id))
    return {"models": models}


refuse_other_methods(
    config_router, read_scope=CanReadProviderKeys, write_scope=CanWriteProviderKeys
)
refuse_other_methods(
    models_router, read_scope=CanReadProviderKeys, write_scope=CanWriteProviderKeys
)
