"""A tiny router mounted only in foundation tests, to exercise auth, errors and paging."""

from __future__ import annotations

from typing import Annotated, Any

import asyncpg
from fastapi import Query, Request
from pydantic import BaseModel, Field

from app.auth.dependencies import CanReadDatasets, CanWriteDatasets
from app.web.methods import refuse_other_methods
from app.web.pagination import Pagination, page
from app.web.routing import api_router

router = api_router("/api/environments/{environment_id}/probes", "probes")


class ProbeBody(BaseModel):
    name: str = Field(min_length=1, max_length=10)
    size: int = 0


@router.get("/")
async def list_probes(
    context: CanReadDatasets,
    request: Request,
    pagination: Pagination,
    total: Annotated[int, Query()] = 7,
) -> dict[str, Any]:
    rows = list(range(total))[pagination.offset : pagination.offset + pagination.limit]
    return page(request, pagination, total, rows)


@router.post("/", status_code=201)
async def create_probe(context: CanWriteDatasets, body: ProbeBody) -> dict[str, Any]:
    return {"name": body.name, "size": body.size, "team": context.team_id}


@router.get("/boom/")
async def boom(context: CanReadDatasets) -> dict[str, Any]:
    raise RuntimeError("secret internals: SELECT * FROM users")


@router.get("/driver-out-of-step/")
async def driver_out_of_step(context: CanReadDatasets) -> dict[str, Any]:
    # What asyncpg raises when PostgreSQL goes away in the middle of a statement.
    raise asyncpg.InternalClientError("cannot switch to state 12; another operation is in progress")


@router.get("/file-error/")
async def file_error(context: CanReadDatasets) -> dict[str, Any]:
    # A bug of ours that happens to be an OSError: nothing to do with the database.
    with open("/nonexistent/llma-probe.txt", encoding="utf-8") as handle:  # noqa: ASYNC230
        return {"text": handle.read()}


@router.get("/socket-error/")
async def socket_error(context: CanReadDatasets) -> dict[str, Any]:
    # A connection error of something other than the database (e.g. a bug in an adapter).
    raise ConnectionResetError(104, "Connection reset by peer")


# Refused methods on every probe path, answered after the caller's checks.
refuse_other_methods(router, read_scope=CanReadDatasets, write_scope=CanWriteDatasets)
