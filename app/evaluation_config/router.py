"""`…/llm_analytics/evaluation_config/` and its `set_active_key/` action."""

from __future__ import annotations

from typing import Any

from app.auth.dependencies import CanReadProviderKeys, CanWriteProviderKeys
from app.evaluation_config import schemas
from app.evaluation_config.service import EvaluationConfigServiceDep
from app.web.methods import refuse_other_methods
from app.web.openapi import error_responses
from app.web.routing import api_router

PREFIX = "/api/environments/{environment_id}/llm_analytics"
router = api_router(f"{PREFIX}/evaluation_config", "Evaluation config")


@router.get(
    "/", response_model=schemas.EvaluationConfigRead, responses=error_responses(401, 403, 404)
)
async def retrieve_evaluation_config(
    context: CanReadProviderKeys, service: EvaluationConfigServiceDep
) -> dict[str, Any]:
    """The team's evaluation config (created on first read). Scope `llm_provider_key:read`."""
    return await service.retrieve(context)


@router.post(
    "/set_active_key/",
    response_model=schemas.EvaluationConfigRead,
    responses=error_responses(400, 401, 403, 404, 413, 415),
)
async def set_active_key(
    context: CanWriteProviderKeys, service: EvaluationConfigServiceDep, body: schemas.SetActiveKey
) -> dict[str, Any]:
    """Make a key (state `ok`) the team's active key for evaluations and summaries.
    Scope `llm_provider_key:write`."""
    return await service.set_active_key(context, body.key_id)


refuse_other_methods(router, read_scope=CanReadProviderKeys, write_scope=CanWriteProviderKeys)
