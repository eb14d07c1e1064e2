"""`/api/environments/{environment_id}/experiments/…` and PostHog's `evaluation_runs/`."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import Query, Request

from app.auth import dependencies as auth
from app.experiments.schemas import (
    CallRead,
    Comparison,
    EvaluationRunStart,
    EvaluationRunStarted,
    ExperimentCreate,
    ExperimentRead,
    ResultRead,
    Status,
    VerdictName,
    comparison_read,
)
from app.experiments.service import ExperimentServiceDep
from app.web.methods import refuse_other_methods
from app.web.openapi import error_responses
from app.web.pagination import Page, Pagination, cursor_page, page
from app.web.routing import api_router

router = api_router("/api/environments/{environment_id}/experiments", "Experiments")
runs_router = api_router("/api/environments/{environment_id}/evaluation_runs", "Experiments")
ID_PATH = "/{id}/"


@router.post(
    "/",
    status_code=201,
    response_model=ExperimentRead,
    responses=error_responses(400, 401, 403, 404, 415),
)
async def create_experiment(
    context: auth.CanWriteEvaluations, service: ExperimentServiceDep, body: ExperimentCreate
) -> dict[str, Any]:
    """Start an experiment: answers at once with status `queued`; a worker runs it.

    Scope `evaluation:write`.
    """
    return await service.create(context, body)


@router.get(
    "/",
    response_model=Page[ExperimentRead],
    responses=error_responses(400, 401, 403, 404),
)
async def list_experiments(
    context: auth.CanReadEvaluations,
    service: ExperimentServiceDep,
    request: Request,
    pagination: Pagination,
    dataset: Annotated[uuid.UUID | None, Query(description="Only this dataset's.")] = None,
    status: Annotated[Status | None, Query(description="Only experiments in this state.")] = None,
) -> dict[str, Any]:
    """The team's experiments, newest first. Scope `evaluation:read`."""
    found = await service.page(context, dataset, status, pagination)
    return page(request, pagination, found.count, found.results)


@router.get(
    "/compare/",
    response_model=Comparison,
    responses=error_responses(400, 401, 403, 404),
)
async def compare_experiments(
    context: auth.CanReadEvaluations,
    service: ExperimentServiceDep,
    request: Request,
    pagination: Pagination,
    base: Annotated[uuid.UUID, Query(description="The experiment compared against.")],
    head: Annotated[uuid.UUID, Query(description="The experiment being judged.")],
) -> dict[str, Any]:
    """Per evaluation: pass rates with 95 % Wilson intervals, the paired difference over items
    both judged, regressed/improved/stayed counts, McNemar's exact p-value, and the regressed
    items (paged with `limit`/`offset`). Scope `evaluation:read`."""
    found = await service.compare(context, base, head, pagination)
    regressed = page(request, pagination, found.regressed.count, found.regressed.results)
    return comparison_read(found.base, found.head, found.evaluations, regressed)


@router.get(
    ID_PATH,
    response_model=ExperimentRead,
    responses=error_responses(401, 403, 404),
)
async def retrieve_experiment(
    context: auth.CanReadEvaluations, service: ExperimentServiceDep, id: str
) -> dict[str, Any]:
    """Status, progress, per-evaluation tallies and per-provider usage. Scope `evaluation:read`."""
    return await service.retrieve(context, id)


@router.post(
    "/{id}/cancel/",
    response_model=ExperimentRead,
    responses=error_responses(401, 403, 404),
)
async def cancel_experiment(
    context: auth.CanWriteEvaluations, service: ExperimentServiceDep, id: str
) -> dict[str, Any]:
    """Stop dispatching; verdicts already written stay. Scope `evaluation:write`."""
    return await service.cancel(context, id)


@router.get(
    "/{id}/results/",
    response_model=Page[ResultRead],
    responses=error_responses(400, 401, 403, 404),
)
async def list_experiment_results(
    context: auth.CanReadEvaluations,
    service: ExperimentServiceDep,
    request: Request,
    id: str,
    pagination: Pagination,
    verdict: Annotated[VerdictName | None, Query(description="pass, fail, na or error.")] = None,
    evaluation: Annotated[uuid.UUID | None, Query(description="One evaluation's.")] = None,
    cursor: Annotated[
        str | None, Query(description="Keyset paging: '' first, then `next`.")
    ] = None,
) -> dict[str, Any]:
    """Verdicts per (item, evaluation), in id order. Scope `evaluation:read`."""
    found = await service.results(context, id, verdict, evaluation, pagination, cursor)
    if cursor is None:
        return page(request, pagination, found.count, found.results)
    return cursor_page(request, pagination.limit, found.count, found.results, found.next_position)


@router.get(
    "/{id}/calls/",
    response_model=Page[CallRead],
    responses=error_responses(400, 401, 403, 404),
)
async def list_experiment_calls(
    context: auth.CanReadEvaluations,
    service: ExperimentServiceDep,
    request: Request,
    id: str,
    pagination: Pagination,
) -> dict[str, Any]:
    """The ledger: every provider call, oldest first (never the key). Scope `evaluation:read`."""
    found = await service.calls(context, id, pagination)
    return page(request, pagination, found.count, found.results)


@runs_router.post(
    "/",
    status_code=202,
    response_model=EvaluationRunStarted,
    responses=error_responses(400, 401, 403, 404, 415),
)
async def create_evaluation_run(
    context: auth.CanWriteEvaluations, service: ExperimentServiceDep, body: EvaluationRunStart
) -> dict[str, Any]:
    """PostHog's single-target run: judge one dataset item (`target_event_id` is the item's
    id here) with one evaluation, in the background. `workflow_id` is the id of the one-item
    experiment doing it (`GET …/experiments/{workflow_id}/`). Scope `evaluation:write`."""
    return await service.start_run(context, body)


for _router in (router, runs_router):
    refuse_other_methods(
        _router, read_scope=auth.CanReadEvaluations, write_scope=auth.CanWriteEvaluations
    )
