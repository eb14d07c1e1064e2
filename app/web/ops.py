"""Operational endpoints: /healthz, /readyz, /metrics, the OpenAPI document and offline /docs."""

from __future__ import annotations

from importlib import resources
from typing import Any

import yaml  # type: ignore[import-untyped]
from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy import text

from app.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from app.metrics import render as render_metrics
from app.web.deps import SessionmakerDep
from app.web.errors import UpstreamError, ValidationFailed
from app.web.jsonutil import JSONResponse
from app.web.openapi import error_responses, operation_id

router = APIRouter(tags=["Operations"], generate_unique_id_function=operation_id)

SCHEMA_PATH = "/api/schema/"
YAML_MEDIA_TYPE = "application/vnd.oai.openapi"  # what PostHog's (drf-spectacular) sends
STATIC_PATH = "/static/swagger"


@router.get("/healthz", summary="Liveness: the process is up")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="Readiness: the database answers",
    responses=error_responses(503),
)
async def readyz(sessionmaker: SessionmakerDep) -> dict[str, str]:
    try:
        async with sessionmaker() as session:
            await session.execute(text("SELECT 1"))
    except Exception as exc:
        raise UpstreamError(
            "The database is unavailable.", status_code=503, code="database_unavailable"
        ) from exc
    return {"status": "ok"}


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics() -> Response:
    """Prometheus text format: requests, LLM provider calls, summary cache, throttles and the
    database pool, summed over all workers of the server."""
    return Response(render_metrics(), media_type=METRICS_CONTENT_TYPE)


@router.get(SCHEMA_PATH, include_in_schema=False)
async def openapi_schema(request: Request, format: str | None = None) -> Response:
    """JSON by default; `?format=yaml` answers YAML, like PostHog's schema endpoint."""
    schema: dict[str, Any] = request.app.openapi()
    if format in (None, "", "json"):
        return JSONResponse(schema)
    if format == "yaml":
        text = yaml.safe_dump(schema, sort_keys=False, allow_unicode=True, width=100)
        return Response(text, media_type=YAML_MEDIA_TYPE)
    raise ValidationFailed(
        f'"{format}" is not a valid choice. Must be one of: json, yaml.',
        code="invalid_choice",
        attr="format",
    )


@router.get("/", include_in_schema=False)
async def root() -> RedirectResponse:
    """A browser opening the service's address lands on the API documentation."""
    return RedirectResponse("/docs", status_code=307)


@router.get("/docs", include_in_schema=False)
async def swagger_ui(request: Request) -> HTMLResponse:
    return get_swagger_ui_html(
        openapi_url=SCHEMA_PATH,
        title="LLM analytics API",
        swagger_js_url=f"{STATIC_PATH}/swagger-ui-bundle.js",
        swagger_css_url=f"{STATIC_PATH}/swagger-ui.css",
        swagger_favicon_url=f"{STATIC_PATH}/favicon.png",
        swagger_ui_parameters={"persistAuthorization": True},
    )


def mount_docs_assets(app: FastAPI) -> None:
    """Swagger UI's files come from the fastapi-offline wheel: the page needs no CDN."""
    static_dir = resources.files("fastapi_offline") / "static"
    app.mount(STATIC_PATH, StaticFiles(directory=str(static_dir)), name="swagger-static")
