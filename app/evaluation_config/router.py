"""`…/llm_analytics/evaluation_config/` and its `set_active_key/` action."""

from __future__ import annotations

from typing import Any

from app.auth.dependencies import ProviderKeyRead, ProviderKeyWrite
from app.evaluation_config import schemas
from app.evaluation_config.service import EvaluationConfigServiceDep
from app.web.errors import error_responses
from app.web.routing import api_router, method_not_allowed

PREFIX = "/api/environments/{environment_id}/llm_analytics"
router = api_router(f"{PREFIX}/evaluation_config", "Evaluation config")


@router.get(
    "/", response_model=schemas.EvaluationConfigRead, responses=error_responses(401, 403, 404)
)
async def retrieve_evaluation_config(
    context: ProviderKeyRead, service: EvaluationConfigServiceDep
) -> dict[str, Any]:
    """The team's evaluation config (created on first read). Scope `llm_provider_key:read`."""
    return await service.retrieve(context)


@router.post(
    "/set_active_key/",
    response_model=schemas.EvaluationConfigRead,
    responses=error_responses(400, 401, 403, 404, 413, 415),
)
async def set_active_key(
    context: ProviderKeyWrite, service: EvaluationConfigServiceDep, body: schemas.SetActiveKey
) -> dict[str, Any]:
    """Make a key (state `ok`) the team's active key for evaluations and summaries.
    Scope `llm_provider_key:write`."""
    return await service.set_active_key(context, body.key_id)


method_not_allowed(
    router, "/", read_scope=ProviderKeyRead, write_scope=ProviderKeyWrite, allowed=("GET",)
)
method_not_allowed(
    router,
    "/set_active_key/",
    read_scope=ProviderKeyRead,
    write_scope=ProviderKeyWrite,
    allowed=("POST",),
)
