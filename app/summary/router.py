"""`POST /api/environments/{environment_id}/llm_analytics/evaluation_summary/`."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from contextlib import AsyncExitStack
from typing import Annotated, Any

import orjson
from fastapi import Depends, Request, Response

from app.auth.dependencies import CanReadLLMAnalytics, CanWriteLLMAnalytics, TeamContext
from app.db.session import SessionDep
from app.summary.schemas import SummaryErrorBody, SummaryRequest, SummaryResponse
from app.summary.service import SummaryService, admit
from app.web.jsonutil import JSONResponse
from app.web.methods import refuse_other_methods
from app.web.openapi import error_responses
from app.web.routing import APIRoute, api_router

FUNCTION_STACK = "fastapi_function_astack"  # where FastAPI keeps function-scoped dependencies


def _with_error_key(response: Response) -> Response:
    """Copy `detail` into `error`, as the reference's clients read it (SPEC §5.8)."""
    if response.status_code < 400 or response.media_type != "application/json":
        return response
    body = orjson.loads(bytes(response.body))
    if not isinstance(body, dict) or "detail" not in body or "error" in body:
        return response
    body["error"] = body["detail"]
    headers = {
        name: value
        for name, value in response.headers.items()
        if name not in ("content-length", "content-type")
    }
    return JSONResponse(body, status_code=response.status_code, headers=headers)


class SummaryRoute(APIRoute):
    """Renders every error of the route (auth, validation, provider…) through the app's own
    handlers, then adds the `error` key."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route_handler(request: Request) -> Response:
            scope = request.scope
            outer_stack = scope.get(FUNCTION_STACK)
            try:
                # Function-scoped dependencies (the request's session) must see the exception
                # and roll back before it is rendered here, so they get a stack of our own.
                async with AsyncExitStack() as stack:
                    scope[FUNCTION_STACK] = stack
                    response = await handler(request)
            except Exception as exc:
                render = _handler_for(request, exc)
                if render is None:
                    raise
                response = await render(request, exc)
            finally:
                scope[FUNCTION_STACK] = outer_stack
            return _with_error_key(response)

        return route_handler


def _handler_for(request: Request, exc: Exception) -> Any:
    handlers = request.app.exception_handlers
    for cls in type(exc).__mro__:
        if cls in handlers:
            return handlers[cls]
    return None


router = api_router(
    "/api/environments/{environment_id}/llm_analytics/evaluation_summary", "Evaluation summary"
)
router.route_class = SummaryRoute


async def admitted(
    context: CanWriteLLMAnalytics, session: SessionDep, request: Request
) -> TeamContext:
    await admit(session, request.app.state.settings, context)
    return context


_ERRORS = {
    status: {**entry, "model": SummaryErrorBody}
    for status, entry in error_responses(400, 401, 403, 404, 413, 415, 429, 502, 503, 504).items()
}


@router.post("/", response_model=SummaryResponse, responses=_ERRORS)
async def create_evaluation_summary(
    context: Annotated[TeamContext, Depends(admitted)],
    request: Request,
    session: SessionDep,
    body: SummaryRequest,
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
    return await SummaryService.from_request(request, session, context).summarize(body)


refuse_other_methods(router, read_scope=CanReadLLMAnalytics, write_scope=CanWriteLLMAnalytics)
