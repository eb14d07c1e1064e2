"""`/api/environments/{environment_id}/experiments/…` and PostHog's `evaluation_runs/`."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import Query, Request

from app.auth import dependencies as auth
from app.db.session import SessionDep
from app.experiments import service
from app.experiments.repository import ExperimentRepository
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
)
from app.web.errors import NotFound, ValidationFailed
from app.web.methods import refuse_other_methods
from app.web.openapi import error_responses
from app.web.pagination import Page, Pagination, cursor_page, decode_cursor, page
from app.web.routing import api_router

router = api_router("/api/environments/{environment_id}/experiments", "Experiments")
runs_router = api_router("/api/environments/{environment_id}/evaluation_runs", "Experiments")
ID_PATH = "/{id}/"


async def _experiment(repo: ExperimentRepository, raw_id: str) -> Any:
    found = await repo.get(service.parse_id(raw_id))
    if found is None:
        raise NotFound()
    return found


@router.post(
    "/",
    status_code=201,
    response_model=ExperimentRead,
    responses=error_responses(400, 401, 403, 404, 415),
)
async def create_experiment(
    context: auth.CanWriteEvaluations, session: SessionDep, body: ExperimentCreate
) -> dict[str, Any]:
    """Start an experiment: answers at once with status `queued`; a worker runs it.

    Scope `evaluation:write`.
    """
    repo = ExperimentRepository(session, context.team_id)
    experiment = await service.start(repo, body, context.user_id)
    return await service.render(repo, await _experiment(repo, str(experiment.id)))


@router.get(
    "/",
    response_model=Page[ExperimentRead],
    responses=error_responses(400, 401, 403, 404),
)
async def list_experiments(
    context: auth.CanReadEvaluations,
    session: SessionDep,
    request: Request,
    pagination: Pagination,
    dataset: Annotated[uuid.UUID | None, Query(description="Only this dataset's.")] = None,
    status: Annotated[Status | None, Query(description="Only experiments in this state.")] = None,
) -> dict[str, Any]:
    """The team's experiments, newest first. Scope `evaluation:read`."""
    repo = ExperimentRepository(session, context.team_id)
    count, rows = await repo.page(dataset, status, pagination.limit, pagination.offset)
    return page(request, pagination, count, await service.render_many(repo, rows))


@router.get(
    "/compare/",
    response_model=Comparison,
    responses=error_responses(400, 401, 403, 404),
)
async def compare_experiments(
    context: auth.CanReadEvaluations,
    session: SessionDep,
    request: Request,
    pagination: Pagination,
    base: Annotated[uuid.UUID, Query(description="The experiment compared against.")],
    head: Annotated[uuid.UUID, Query(description="The experiment being judged.")],
) -> dict[str, Any]:
    """Per evaluation: pass rates with 95 % Wilson intervals, the paired difference over items
    both judged, regressed/improved/stayed counts, McNemar's exact p-value, and the regressed
    items (paged with `limit`/`offset`). Scope `evaluation:read`."""
    repo = ExperimentRepository(session, context.team_id)
    experiments = []
    for name, value in (("base", base), ("head", head)):
        found = await repo.get(value)
        if found is None:
            raise ValidationFailed("Experiment not found.", code="invalid", attr=name)
        experiments.append(found)
    evaluations = await service.compare(repo, experiments[0], experiments[1])
    count, rows = await repo.regressed(base, head, pagination.limit, pagination.offset)
    regressed = [
        {"dataset_item": i, "evaluation": e, "base_reasoning": b, "head_reasoning": h}
        for i, e, b, h in rows
    ]
    return {
        "base": base,
        "head": head,
        "evaluations": evaluations,
        "regressed_items": page(request, pagination, count, regressed),
    }


@router.get(
    ID_PATH,
    response_model=ExperimentRead,
    responses=error_responses(401, 403, 404),
)
async def retrieve_experiment(
    context: auth.CanReadEvaluations, session: SessionDep, id: str
) -> dict[str, Any]:
    """Status, progress, per-evaluation tallies and per-provider usage. Scope `evaluation:read`."""
    repo = ExperimentRepository(session, context.team_id)
    return await service.render(repo, await _experiment(repo, id))


@router.post(
    "/{id}/cancel/",
    response_model=ExperimentRead,
    responses=error_responses(401, 403, 404),
)
async def cancel_experiment(
    context: auth.CanWriteEvaluations, session: SessionDep, id: str
) -> dict[str, Any]:
    """Stop dispatching; verdicts already written stay. Scope `evaluation:write`."""
    repo = ExperimentRepository(session, context.team_id)
    experiment = await _experiment(repo, id)
    await repo.cancel(experiment.id)
    return await service.render(repo, await _experiment(repo, id))


@router.get(
    "/{id}/results/",
    response_model=Page[ResultRead],
    responses=error_responses(400, 401, 403, 404),
)
async def list_experiment_results(
    context: auth.CanReadEvaluations,
    session: SessionDep,
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
    repo = ExperimentRepository(session, context.team_id)
    experiment = await _experiment(repo, id)
    after = None
    if cursor is not None:
        if pagination.offset:
            raise ValidationFailed("Use either cursor or offset.", code="invalid", attr="cursor")
        if cursor:
            try:
                after = uuid.UUID(str(decode_cursor(cursor, 1)[0]))
            except ValueError:
                raise ValidationFailed("Invalid cursor.", code="invalid", attr="cursor") from None
    count, rows = await repo.results(
        experiment.id, verdict, evaluation, pagination.limit, pagination.offset, after
    )
    results = [_result(row) for row in rows]
    if cursor is None:
        return page(request, pagination, count, results)
    more = len(rows) == pagination.limit
    return cursor_page(
        request, pagination.limit, count, results, [str(rows[-1].id)] if more else None
    )


def _result(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "dataset_item": row.dataset_item_id,
        "evaluation": row.evaluation_id,
        "generated_output": row.generated_output,
        "verdict": row.verdict,
        "reasoning": row.reasoning,
        "error": row.error,
        "latency_ms": row.latency_ms,
        "input_tokens": row.input_tokens,
        "output_tokens": row.output_tokens,
        "created_at": row.created_at,
    }


@router.get(
    "/{id}/calls/",
    response_model=Page[CallRead],
    responses=error_responses(400, 401, 403, 404),
)
async def list_experiment_calls(
    context: auth.CanReadEvaluations,
    session: SessionDep,
    request: Request,
    id: str,
    pagination: Pagination,
) -> dict[str, Any]:
    """The ledger: every provider call, oldest first (never the key). Scope `evaluation:read`."""
    repo = ExperimentRepository(session, context.team_id)
    experiment = await _experiment(repo, id)
    count, rows = await repo.calls(experiment.id, pagination.limit, pagination.offset)
    results = [
        {
            **{
                column: getattr(row, column)
                for column in CallRead.model_fields
                if hasattr(row, column)
            },
            "dataset_item": row.dataset_item_id,
            "evaluation": row.evaluation_id,
        }
        for row in rows
    ]
    return page(request, pagination, count, results)


@runs_router.post(
    "/",
    status_code=202,
    response_model=EvaluationRunStarted,
    responses=error_responses(400, 401, 403, 404, 415),
)
async def create_evaluation_run(
    context: auth.CanWriteEvaluations, session: SessionDep, body: EvaluationRunStart
) -> dict[str, Any]:
    """PostHog's single-target run: judge one dataset item (`target_event_id` is the item's
    id here) with one evaluation, in the background. `workflow_id` is the id of the one-item
    experiment doing it (`GET …/experiments/{workflow_id}/`). Scope `evaluation:write`."""
    repo = ExperimentRepository(session, context.team_id)
    evaluation = (await repo.live_evaluations([body.evaluation_id])).get(body.evaluation_id)
    if evaluation is None:
        raise NotFound(f"Evaluation {body.evaluation_id} not found")
    item = await repo.live_item(body.target_event_id)
    if item is None:
        raise NotFound(f"Event {body.target_event_id} not found")
    create = ExperimentCreate(
        dataset=item.dataset_id, evaluations=[evaluation.id], name="Manual evaluation"
    )
    experiment = await service.start(repo, create, context.user_id, item_id=item.id)
    return {
        "workflow_id": str(experiment.id),
        "status": "started",
        "evaluation": {"id": evaluation.id, "name": evaluation.name},
        "target_event_id": item.id,
    }


for _router in (router, runs_router):
    refuse_other_methods(
        _router, read_scope=auth.CanReadEvaluations, write_scope=auth.CanWriteEvaluations
    )
