"""`POST /api/environments/{environment_id}/llm_analytics/evaluation_summary/`.

Every error body of this endpoint also carries `error` (= `detail`, SPEC §5.8): the app's error
handlers add it for this path (`app.web.error_key.ERROR_KEY_PATH`), the 405s below included.
"""

from __future__ import annotations

from typing import Any

from app.auth.dependencies import CanReadLLMAnalytics, CanWriteLLMAnalytics
from app.summary.schemas import SummaryErrorBody, SummaryRequest, SummaryResponse
from app.summary.service import SummaryServiceDep
from app.web.methods import refuse_other_methods
from app.web.openapi import error_responses
from app.web.routing import api_router

router = api_router(
    "/api/environments/{environment_id}/llm_analytics/evaluation_summary", "Evaluation summary"
)

_ERRORS = {
    status: {**entry, "model": SummaryErrorBody}
    for status, entry in error_responses(400, 401, 403, 404, 413, 415, 429, 502, 503, 504).items()
}


@router.post("/", response_model=SummaryResponse, responses=_ERRORS)
async def create_evaluation_summary(
    service: SummaryServiceDep, body: SummaryRequest
) -> dict[str, Any]:
    """Generate an AI-powered summary of an evaluation's runs.

    Analyses the newest 250 runs matching `filter` (and `generation_ids`), finds patterns in
    passing, failing and N/A runs and suggests improvements. Statistics are counted from the
    runs. Results are cached (SUMMARY_CACHE_TTL_SECONDS, default one hour) per set of analysed
    runs; `force_refresh` recomputes.
    Uses the team's active provider key, else the operator's default key (trial evals).
    Throttled per team (burst per minute, sustained per hour, daily). Errors also carry
    `error` (= `detail`). Scope `llm_analytics:write`.
    """
    return await service.summarize(body)


refuse_other_methods(router, read_scope=CanReadLLMAnalytics, write_scope=CanWriteLLMAnalytics)
