"""`/api/environments/{environment_id}/evaluations/…`: evaluations CRUD and run ingestion."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import Query, Request

from app.auth import dependencies as auth
from app.db.session import SessionDep
from app.evaluations.repository import ORDERINGS, EvaluationFilters, EvaluationRepository
from app.evaluations.rules import RUN_FILTER_CHOICES, RunFilter
from app.evaluations.schemas import (
    EvaluationCreate,
    EvaluationRead,
    EvaluationUpdate,
    RunBatch,
    RunBatchResult,
    RunRead,
    evaluation_read,
    run_read,
)
from app.evaluations.service import EvaluationServiceDep
from app.web.booleans import QUERY_FALSE as _FALSE
from app.web.booleans import QUERY_TRUE as _TRUE
from app.web.errors import NotFound, ValidationFailed
from app.web.methods import refuse_other_methods
from app.web.openapi import error_responses
from app.web.pagination import Page, Pagination, page
from app.web.routing import api_router

router = api_router("/api/environments/{environment_id}/evaluations", "Evaluations")
RUNS_TAG = "Evaluation runs"
ID_PATH = "/{id}/"
RUNS_PATH = "/{id}/runs/"


def _parse_uuid(raw: str) -> uuid.UUID:
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise NotFound() from None


def _split(values: list[str] | None) -> list[str]:
    return [part.strip() for value in values or [] for part in value.split(",") if part.strip()]


def _filters(
    search: str | None, enabled: str | None, id__in: list[str] | None, order_by: list[str] | None
) -> EvaluationFilters:
    parsed_enabled = None
    if enabled is not None and enabled != "":
        if enabled.lower() not in _TRUE | _FALSE:
            raise ValidationFailed("Must be a valid boolean.", code="invalid", attr="enabled")
        parsed_enabled = enabled.lower() in _TRUE
    ids = None
    if id__in is not None:
        try:
            ids = [uuid.UUID(value) for value in _split(id__in)]
        except ValueError:
            raise ValidationFailed(
                "Enter a comma-separated list of valid UUIDs.", code="invalid", attr="id__in"
            ) from None
    ordering = _split(order_by) or ["-created_at"]
    for name in ordering:
        if name not in ORDERINGS:
            raise ValidationFailed(
                f"Invalid ordering '{name}'. Allowed: {', '.join(ORDERINGS)}.",
                code="invalid_choice",
                attr="order_by",
            )
    return EvaluationFilters(
        search=search or None, enabled=parsed_enabled, ids=ids, order_by=ordering
    )


@router.get("/", response_model=Page[EvaluationRead], responses=error_responses(400, 401, 403, 404))
async def list_evaluations(
    context: auth.CanReadEvaluations,
    session: SessionDep,
    request: Request,
    pagination: Pagination,
    search: Annotated[str | None, Query(description="Substring of name or description.")] = None,
    enabled: Annotated[
        str | None, Query(description="Only enabled (true) or paused (false).")
    ] = None,
    id__in: Annotated[list[str] | None, Query(description="Comma-separated UUIDs.")] = None,
    order_by: Annotated[
        list[str] | None, Query(description=f"One or more of {', '.join(ORDERINGS)}.")
    ] = None,
) -> dict[str, Any]:
    """List the team's evaluations, newest first. Scope `evaluation:read`."""
    filters = _filters(search, enabled, id__in, order_by)
    repo = EvaluationRepository(session, context.team_id)
    count, rows = await repo.page(filters, pagination.limit, pagination.offset)
    results = [evaluation_read(evaluation, key_name) for evaluation, key_name in rows]
    return page(request, pagination, count, results)


@router.post(
    "/",
    status_code=201,
    response_model=EvaluationRead,
    responses=error_responses(400, 401, 403, 404, 415),
)
async def create_evaluation(
    context: auth.CanWriteEvaluations, service: EvaluationServiceDep, body: EvaluationCreate
) -> EvaluationRead:
    """Create an LLM-judge evaluation. Scope `evaluation:write`."""
    return evaluation_read(*await service.create(body, context.user_id))


@router.get(ID_PATH, response_model=EvaluationRead, responses=error_responses(401, 403, 404))
async def retrieve_evaluation(
    context: auth.CanReadEvaluations, session: SessionDep, id: str
) -> EvaluationRead:
    """One evaluation (deleted ones answer 404). Scope `evaluation:read`."""
    found = await EvaluationRepository(session, context.team_id).get(_parse_uuid(id))
    if found is None:
        raise NotFound()
    return evaluation_read(*found)


@router.patch(ID_PATH, response_model=EvaluationRead, responses=error_responses(400, 401, 403, 404))
async def update_evaluation(
    context: auth.CanWriteEvaluations,
    service: EvaluationServiceDep,
    id: str,
    body: EvaluationUpdate,
) -> EvaluationRead:
    """Update the fields sent; `{"deleted": true}` soft-deletes, `false` restores.

    Scope `evaluation:write`.
    """
    return evaluation_read(*await service.update(_parse_uuid(id), body))


# --- runs ------------------------------------------------------------------------------------


@router.post(
    RUNS_PATH,
    status_code=201,
    response_model=RunBatchResult,
    responses=error_responses(400, 401, 403, 404, 413, 415),
    tags=[RUNS_TAG],
)
async def create_evaluation_runs(
    context: auth.CanWriteEvaluations, service: EvaluationServiceDep, id: str, body: RunBatch
) -> RunBatchResult:
    """Record up to 1000 runs, all or nothing (a bad run refuses the batch).

    Run ids are unique within the evaluation. A run whose `id` is already stored with the
    same content counts as a duplicate (safe retries); with other content, as a conflict:
    it is not stored, the stored run stays, and its id is listed in `conflict_ids`.
    Scope `evaluation:write`.
    """
    outcome = await service.record_runs(_parse_uuid(id), body.runs)
    return RunBatchResult(
        created=outcome.created,
        duplicates=outcome.duplicates,
        conflicts=outcome.conflicts,
        conflict_ids=outcome.conflict_ids,
    )


@router.get(
    RUNS_PATH,
    response_model=Page[RunRead],
    responses=error_responses(400, 401, 403, 404),
    tags=[RUNS_TAG],
)
async def list_evaluation_runs(
    context: auth.CanReadEvaluations,
    session: SessionDep,
    request: Request,
    id: str,
    pagination: Pagination,
    filter: Annotated[RunFilter, Query(description=f"{RUN_FILTER_CHOICES}.")] = "all",
) -> dict[str, Any]:
    """The evaluation's runs, newest first (`timestamp` desc). Scope `evaluation:read`."""
    repo = EvaluationRepository(session, context.team_id)
    evaluation = await repo.live(_parse_uuid(id))
    if evaluation is None:
        raise NotFound()
    count, runs = await repo.list_runs(evaluation.id, filter, pagination.limit, pagination.offset)
    return page(request, pagination, count, [run_read(run) for run in runs])


refuse_other_methods(
    router,
    read_scope=auth.CanReadEvaluations,
    write_scope=auth.CanWriteEvaluations,
    hard_delete=(ID_PATH,),
)
