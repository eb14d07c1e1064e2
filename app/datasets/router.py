"""Routes of `/datasets/` and `/dataset_items/` (SPEC §5.1, §5.2), scope `dataset:read|write`.

Hard delete is refused (405): `PATCH {"deleted": true}` soft-deletes, `{"deleted": false}`
restores. Every response is rendered by the resource's one renderer
(`app.datasets.serializers`) from the row the repository answers with; `response_model` only
documents it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request

from app.auth.dependencies import CanReadDatasets, CanWriteDatasets
from app.datasets import schemas
from app.datasets.bulk_router import bulk
from app.datasets.filters import dataset_order_terms, optional_uuid, search_term, uuid_list
from app.datasets.paging import ListWindow, PageRows, Window
from app.datasets.repository import DatasetItemRepository, DatasetRepository
from app.datasets.serializers import render_dataset, render_item
from app.db.session import SessionDep
from app.web.errors import NotFound, ValidationFailed
from app.web.jsonutil import JSONResponse
from app.web.methods import refuse_other_methods
from app.web.openapi import error_responses
from app.web.pagination import ORDER_BY_CHOICES, Page, PageParams, cursor_page, page
from app.web.routing import api_router

PREFIX = "/api/environments/{environment_id}"
# Full paths under one prefix keep the 405 routes' operation ids distinct between the two.
datasets = api_router(PREFIX, "Datasets")
items = api_router(PREFIX, "Dataset items")

DatasetId = Annotated[str, Path(alias="id", description="Dataset id (UUID).")]
ItemId = Annotated[str, Path(alias="id", description="Dataset item id (UUID).")]
ORDER_BY_HELP = ", ".join(f"`{term}`" for term in ORDER_BY_CHOICES[:-1])
ORDER_BY_HELP += f" or `{ORDER_BY_CHOICES[-1]}`"
READ_ERRORS = error_responses(400, 401, 403, 404)
WRITE_ERRORS = error_responses(400, 401, 403, 404, 413, 415)


def _object_id(raw: str) -> uuid.UUID:
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise NotFound() from None


def _page(
    request: Request, window: Window, found: PageRows, render: Callable[[Any], dict[str, Any]]
) -> JSONResponse:
    results = [render(row) for row in found.rows]
    if window.cursor is None:
        params = PageParams(limit=window.limit, offset=window.offset)
        return JSONResponse(page(request, params, found.count, results))
    return JSONResponse(
        cursor_page(request, window.limit, found.count, results, found.next_position)
    )


# --- datasets -----------------------------------------------------------------------------


@datasets.get("/datasets/", response_model=Page[schemas.DatasetRead], responses=READ_ERRORS)
async def list_datasets(
    context: CanReadDatasets,
    session: SessionDep,
    request: Request,
    window: ListWindow,
    id__in: Annotated[
        list[str] | None, Query(description="Dataset ids, comma-separated or repeated.")
    ] = None,
    search: Annotated[
        str | None,
        Query(description="Case-insensitive substring of name, description or metadata."),
    ] = None,
    order_by: Annotated[
        list[str] | None,
        Query(description=f"{ORDER_BY_HELP}; comma-separated or repeated. Default `-created_at`."),
    ] = None,
) -> JSONResponse:
    """List the team's datasets (deleted ones excluded). Scope `dataset:read`."""
    found = await DatasetRepository(session, context.team_id).list(
        ids=uuid_list(id__in, "id__in"),
        search=search_term(search),
        order_terms=dataset_order_terms(order_by),
        window=window,
    )
    return _page(request, window, found, render_dataset)


@datasets.post(
    "/datasets/", status_code=201, response_model=schemas.DatasetRead, responses=WRITE_ERRORS
)
async def create_dataset(
    context: CanWriteDatasets, session: SessionDep, body: schemas.DatasetCreate
) -> JSONResponse:
    """Create a dataset. Scope `dataset:write`."""
    row = await DatasetRepository(session, context.team_id).create(
        body.model_dump(), context.user_id
    )
    return JSONResponse(render_dataset(row), status_code=201)


@datasets.get("/datasets/{id}/", response_model=schemas.DatasetRead, responses=READ_ERRORS)
async def retrieve_dataset(
    context: CanReadDatasets, session: SessionDep, dataset_id: DatasetId
) -> JSONResponse:
    """Retrieve a dataset (404 once soft-deleted). Scope `dataset:read`."""
    row = await DatasetRepository(session, context.team_id).get(_object_id(dataset_id))
    if row is None:
        raise NotFound()
    return JSONResponse(render_dataset(row))


@datasets.patch("/datasets/{id}/", response_model=schemas.DatasetRead, responses=WRITE_ERRORS)
async def update_dataset(
    context: CanWriteDatasets,
    session: SessionDep,
    body: schemas.DatasetUpdate,
    dataset_id: DatasetId,
) -> JSONResponse:
    """Update a dataset; `{"deleted": true}` soft-deletes, `false` restores.
    Scope `dataset:write`."""
    row = await DatasetRepository(session, context.team_id).update(
        _object_id(dataset_id), body.model_dump(exclude_unset=True)
    )
    if row is None:
        raise NotFound()
    return JSONResponse(render_dataset(row))


# --- dataset items ------------------------------------------------------------------------


def _unknown_dataset(dataset_id: uuid.UUID) -> ValidationFailed:
    # Same answer for missing, deleted and other teams' datasets: nothing leaks across teams.
    return ValidationFailed(
        f'Invalid pk "{dataset_id}" - object does not exist.', code="does_not_exist", attr="dataset"
    )


@items.get("/dataset_items/", response_model=Page[schemas.DatasetItemRead], responses=READ_ERRORS)
async def list_dataset_items(
    context: CanReadDatasets,
    session: SessionDep,
    request: Request,
    window: ListWindow,
    dataset: Annotated[
        str | None, Query(description="Only the items of this dataset (UUID).")
    ] = None,
) -> JSONResponse:
    """List the team's dataset items, newest first (deleted ones excluded). Scope `dataset:read`."""
    found = await DatasetItemRepository(session, context.team_id).list(
        dataset_id=optional_uuid(dataset, "dataset"), window=window
    )
    return _page(request, window, found, render_item)


@items.post(
    "/dataset_items/",
    status_code=201,
    response_model=schemas.DatasetItemRead,
    responses=WRITE_ERRORS,
)
async def create_dataset_item(
    context: CanWriteDatasets, session: SessionDep, body: schemas.DatasetItemCreate
) -> JSONResponse:
    """Add an item to a live dataset of the team. Scope `dataset:write`."""
    row = await DatasetItemRepository(session, context.team_id).create(
        body.model_dump(), context.user_id
    )
    if row is None:
        raise _unknown_dataset(body.dataset)
    return JSONResponse(render_item(row), status_code=201)


@items.get("/dataset_items/{id}/", response_model=schemas.DatasetItemRead, responses=READ_ERRORS)
async def retrieve_dataset_item(
    context: CanReadDatasets, session: SessionDep, item_id: ItemId
) -> JSONResponse:
    """Retrieve an item (404 once soft-deleted). Scope `dataset:read`."""
    row = await DatasetItemRepository(session, context.team_id).get(_object_id(item_id))
    if row is None:
        raise NotFound()
    return JSONResponse(render_item(row))


@items.patch("/dataset_items/{id}/", response_model=schemas.DatasetItemRead, responses=WRITE_ERRORS)
async def update_dataset_item(
    context: CanWriteDatasets, session: SessionDep, body: schemas.DatasetItemUpdate, item_id: ItemId
) -> JSONResponse:
    """Update an item, move it to another dataset of the team, soft-delete or restore it.
    Scope `dataset:write`."""
    repository = DatasetItemRepository(session, context.team_id)
    item = await repository.get_for_update(_object_id(item_id))
    if item is None:
        raise NotFound()
    values = body.model_dump(exclude_unset=True)
    if "dataset" in values and not await repository.dataset_is_live(values["dataset"]):
        raise _unknown_dataset(values["dataset"])
    return JSONResponse(render_item(await repository.update(item, values)))


for _router, _base in ((datasets, "/datasets/"), (items, "/dataset_items/")):
    refuse_other_methods(
        _router,
        read_scope=CanReadDatasets,
        write_scope=CanWriteDatasets,
        hard_delete=(f"{_base}{{id}}/",),
    )
# Bulk import/export (issue 15): their own module, their own 405s.
refuse_other_methods(bulk, read_scope=CanReadDatasets, write_scope=CanWriteDatasets)
router = APIRouter(routes=[*datasets.routes, *items.routes, *bulk.routes])
