"""Routes of the bulk item import and export (`…/datasets/{id}/items/import|export/`).

The import reads its body itself, as a stream: the route declares no body parameter, so the
project's route class (`app.routing`) leaves the body alone, and `app.middleware.BodySizeLimit`
exempts this one path (its limits are per line and per request line count instead). Everything
that can be refused as a whole is refused before the first byte of the answer: scope, content
type (415), dataset (404), query (400), and a first chunk that is not UTF-8 or not gzip (400).
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Literal

from fastapi import Path, Query, Request
from starlette.requests import ClientDisconnect
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from app.auth.dependencies import CanReadDatasets, CanWriteDatasets
from app.datasets.bulk import Importer, answer_stream
from app.datasets.bulk_answers import STATUSES, ImportOptions
from app.datasets.bulk_export import export_stream
from app.datasets.bulk_formats import MEDIA_TYPES, BodyError, decompressed, utf8_prefix_ok
from app.datasets.repository import DatasetItemRepository, DatasetRepository
from app.db.session import SessionDep
from app.web.errors import NotFound, UnsupportedMediaType, ValidationFailed
from app.web.openapi import error_responses
from app.web.routing import api_router

PREFIX = "/api/environments/{environment_id}"
bulk = api_router(PREFIX, "Dataset items")
DatasetId = Annotated[str, Path(alias="id", description="Dataset id (UUID).")]
NDJSON = "application/x-ndjson"

ANSWER_SCHEMA = {
    "type": "object",
    "description": "One line per input item, in input order, then one summary line "
    '(`{"summary": true, "lines": n, "created": n, …}`, with `committed` when `atomic=true` '
    "and `error` when the import stopped early).",
    "properties": {
        "line": {"type": "integer"},
        "id": {"type": ["string", "null"]},
        "status": {"type": "string", "enum": list(STATUSES)},
        "duplicate_of": {"type": "string"},
        "error": {
            "type": "object",
            "properties": {
                "code": {"type": "string"},
                "detail": {"type": "string"},
                "attr": {"type": ["string", "null"]},
            },
        },
    },
}
ITEM_LINE_SCHEMA = {
    "type": "object",
    "properties": {
        "id": {"type": "string", "format": "uuid"},
        "input": {},
        "output": {},
        "metadata": {},
        "ref_trace_id": {"type": ["string", "null"]},
        "ref_source_id": {"type": ["string", "null"]},
        "ref_timestamp": {"type": ["string", "null"], "format": "date-time"},
        "deleted": {"type": "boolean"},
    },
}
IMPORT_BODY = {
    "requestBody": {
        "required": True,
        "description": "NDJSON, CSV (header row; columns named as the item fields) or a JSON "
        "array of items; `Content-Encoding: gzip` (or a gzip body) is accepted.",
        "content": {
            NDJSON: {
                "schema": ITEM_LINE_SCHEMA,
                "example": '{"input": {"q": "Reset my password"}, "output": "Settings → Security"}',
            },
            "text/csv": {
                "schema": {"type": "string"},
                "example": 'input,output\n"{""q"": ""Reset my password""}",Settings → Security\n',
            },
            "application/json": {
                "schema": {"type": "array", "items": ITEM_LINE_SCHEMA},
                "examples": {
                    "import_dataset_items": {
                        "summary": "Two items, one with a client id",
                        "value": [
                            {"input": {"q": "Reset my password"}, "output": "Settings → Security"},
                            {
                                "id": "0193a7c2-5f3e-7d41-9a8e-2b7c1d4e5f61",
                                "input": {"q": "Change my e-mail"},
                                "output": "Settings → Profile",
                                "metadata": {"source": "tickets"},
                            },
                        ],
                    }
                },
            },
        },
    }
}
ANSWER_EXAMPLE = {"line": 1, "id": "0193a7c2-5f3e-7d41-9a8e-2b7c1d4e5f61", "status": "created"}
EXPORT_EXAMPLE = {
    "id": "0193a7c2-5f3e-7d41-9a8e-2b7c1d4e5f61",
    "input": {"q": "Change my e-mail"},
    "output": "Settings → Profile",
    "metadata": {"source": "tickets"},
    "ref_trace_id": None,
    "ref_source_id": None,
    "ref_timestamp": None,
    "deleted": False,
}


class DuplexStreamingResponse(StreamingResponse):
    """Streams without listening for `http.disconnect`: that listener would swallow the
    request body the import is still reading. A client that goes away ends the body stream."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self.stream_response(send)
        except OSError:
            raise ClientDisconnect() from None


def _dataset_id(raw: str) -> uuid.UUID:
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise NotFound() from None


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


async def _prepended(first: bytes, rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    yield first
    async for chunk in rest:
        yield chunk


@bulk.post(
    "/datasets/{id}/items/import/",
    response_class=DuplexStreamingResponse,
    responses={
        200: {
            "description": "The per-line answers, streamed as NDJSON.",
            "content": {NDJSON: {"schema": ANSWER_SCHEMA, "example": ANSWER_EXAMPLE}},
        },
        **error_responses(400, 401, 403, 404, 415),
    },
    openapi_extra=IMPORT_BODY,
)
async def import_dataset_items(
    context: CanWriteDatasets,
    session: SessionDep,
    request: Request,
    dataset_id: DatasetId,
    mode: Annotated[
        Literal["insert", "upsert"],
        Query(description="`upsert` replaces an existing item (same id) whose content differs."),
    ] = "insert",
    dedupe: Annotated[
        Literal["none", "content"],
        Query(description="`content`: skip new items whose (input, output) the dataset has."),
    ] = "none",
    atomic: Annotated[
        bool, Query(description="All or nothing: commit only if no line is rejected.")
    ] = False,
    ids: Annotated[
        Literal["keep", "new"],
        Query(description="`new` ignores the lines' ids and gives every item a fresh one."),
    ] = "keep",
) -> DuplexStreamingResponse:
    """Import items into a dataset from an NDJSON, CSV or JSON-array body, gzipped or not;
    answers one NDJSON line per item, then a summary. Scope `dataset:write`."""
    fmt = MEDIA_TYPES.get(_media_type(request))
    if fmt is None:
        shown = _media_type(request)
        raise UnsupportedMediaType(
            f'Unsupported media type "{shown}" in request. Send one of: '
            + ", ".join(sorted(MEDIA_TYPES))
            + "."
        )
    target = _dataset_id(dataset_id)
    if not await DatasetItemRepository(session, context.team_id).dataset_is_live(target):
        raise NotFound()
    encoding = request.headers.get("content-encoding", "").strip().lower()
    if encoding not in ("", "identity", "gzip"):
        raise UnsupportedMediaType(f'Unsupported content encoding "{encoding}".')
    settings = request.app.state.settings
    data = decompressed(request.stream(), encoding == "gzip")
    first = b""
    try:
        async for chunk in data:
            first = chunk
            break
    except BodyError as exc:
        raise ValidationFailed(str(exc), code="parse_error") from None
    if not utf8_prefix_ok(first[:65536]):
        raise ValidationFailed("The body is not UTF-8 text.", code="parse_error")
    options = ImportOptions(
        team_id=context.team_id,
        dataset_id=target,
        user_id=context.user_id,
        fmt=fmt,
        gzip=encoding == "gzip",
        upsert=mode == "upsert",
        dedupe=dedupe == "content",
        atomic=atomic,
        new_ids=ids == "new",
        batch_size=settings.import_batch_size,
        max_line_bytes=settings.import_max_line_bytes,
        max_lines=settings.import_max_lines,
    )
    importer = Importer(request.app.state.sessionmaker, options)
    return DuplexStreamingResponse(
        answer_stream(importer, _prepended(first, data)), media_type=NDJSON
    )


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:80] or "dataset"


@bulk.get(
    "/datasets/{id}/items/export/",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "Every item, oldest first, as NDJSON lines or CSV rows.",
            "content": {
                NDJSON: {"schema": ITEM_LINE_SCHEMA, "example": EXPORT_EXAMPLE},
                "text/csv": {
                    "example": "id,input,output,metadata,ref_trace_id,ref_source_id,"
                    "ref_timestamp,deleted\n"
                },
            },
        },
        **error_responses(400, 401, 403, 404),
    },
)
async def export_dataset_items(
    context: CanReadDatasets,
    session: SessionDep,
    request: Request,
    dataset_id: DatasetId,
    format: Annotated[
        Literal["ndjson", "csv"], Query(description="`ndjson` (default) or `csv`.")
    ] = "ndjson",
    include_deleted: Annotated[
        bool, Query(description="Soft-deleted items too (each line says `deleted`).")
    ] = False,
) -> StreamingResponse:
    """Stream a dataset's items, oldest first (`created_at`, then `id`), from one snapshot.
    Scope `dataset:read`."""
    target = _dataset_id(dataset_id)
    row = await DatasetRepository(session, context.team_id).get(target)
    if row is None:
        raise NotFound()
    filename = f"{_slug(row[1])}-{dt.datetime.now(dt.UTC).date().isoformat()}.{format}"
    return StreamingResponse(
        export_stream(
            request.app.state.sessionmaker, context.team_id, target, format, include_deleted
        ),
        media_type=NDJSON if format == "ndjson" else "text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


router = bulk
