"""The application factory: `create_app(settings)` wires routers, middleware and the lifespan."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app import metrics
from app.crypto import build_secret_box
from app.db.embedded import resolve_database_url
from app.db.engine import create_engine, create_sessionmaker
from app.experiments import examples as experiment_examples
from app.logging import configure_logging
from app.providers.client import create_http_client
from app.providers.limits import TeamSlots
from app.settings import Settings, get_settings
from app.web import ops
from app.web.handlers import install_error_handlers
from app.web.jsonutil import JSONResponse
from app.web.middleware import BodySizeLimit, PathNormalizer, RequestContext
from app.web.openapi import install_openapi, operation_id
from app.web.routing import add_routes

logger = logging.getLogger("app")

DESCRIPTION = """
PostHog-compatible LLM analytics API: evaluation datasets and items, LLM provider keys,
models, evaluation config, evaluations and their runs, and AI evaluation summaries.

Authenticate with `Authorization: Bearer <personal API key>` (button "Authorize").
Every `/api/environments/{id}/…` path is also served at `/api/projects/{id}/…`.
"""


def _feature_routers() -> list[Any]:
    """Each feature package's router; imported here so `create_app` is the one wiring point."""
    from app.datasets.router import router as datasets_router
    from app.evaluation_config.router import router as config_router
    from app.evaluations.router import router as evaluations_router
    from app.experiments.router import router as experiments_router
    from app.experiments.router import runs_router as evaluation_runs_router
    from app.provider_keys.router import models_router, validations_router
    from app.provider_keys.router import router as provider_keys_router
    from app.summary.router import router as summary_router

    return [
        datasets_router,
        evaluations_router,
        provider_keys_router,
        validations_router,
        models_router,
        config_router,
        summary_router,
        experiments_router,
        evaluation_runs_router,
    ]


def create_app(
    settings: Settings | None = None,
    *,
    sessionmaker: async_sessionmaker[AsyncSession] | None = None,
    http_transport: httpx.AsyncBaseTransport | None = None,
) -> FastAPI:
    """The application. Tests pass their own `sessionmaker` (the lifespan then builds no
    engine) and an `http_transport` that fakes the LLM providers."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = None
        if sessionmaker is None:
            engine = create_engine(resolve_database_url(settings))
            app.state.sessionmaker = create_sessionmaker(engine)
        # --- experiments: one in-process queue worker (EXPERIMENT_WORKER_IN_PROCESS) ---
        worker_stop, worker_task = _start_experiment_worker(app, settings)
        try:
            yield
        finally:
            if worker_task is not None:
                worker_stop.set()
                await asyncio.gather(worker_task, return_exceptions=True)
            await app.state.http_client.aclose()
            if engine is not None:
                await engine.dispose()
            metrics.worker_stopped()

    app = FastAPI(
        title="LLM analytics",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
        default_response_class=JSONResponse,
        redirect_slashes=False,
        generate_unique_id_function=operation_id,
    )
    app.state.settings = settings
    if sessionmaker is not None:
        app.state.sessionmaker = sessionmaker
    # Built here, closed by the lifespan: an app served without one (tests) has it too.
    app.state.http_client = create_http_client(settings, http_transport)
    # Built here, not in the lifespan: start-up must stop at once on a bad ENCRYPTION_KEYS.
    app.state.secret_box = build_secret_box(settings)
    app.state.provider_slots = TeamSlots(
        settings.provider_calls_per_team, settings.provider_timeout_seconds
    )
    install_error_handlers(app)
    install_openapi(
        app,
        request_examples=experiment_examples.REQUESTS,
        response_examples=experiment_examples.RESPONSES,
    )
    add_routes(app, ops.router)
    for router in _feature_routers():
        add_routes(app, router)
    ops.mount_docs_assets(app)

    # Outermost first: rewrite the path, then id/log/measure, then cap the body.
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_request_bytes)
    app.add_middleware(RequestContext)
    app.add_middleware(PathNormalizer)
    return app


def _start_experiment_worker(
    app: FastAPI, settings: Settings
) -> tuple[asyncio.Event, asyncio.Task[None] | None]:
    """Run one experiment worker beside the API (the embedded default: `make run` needs no
    second command). It shares the app's engine, http client and secret box."""
    stop = asyncio.Event()
    if not settings.runs_worker_in_process:
        return stop, None
    from app.experiments.jobs import supervise

    task = asyncio.create_task(
        supervise(
            settings,
            resolve_database_url(settings),
            sessionmaker=app.state.sessionmaker,
            client=app.state.http_client,
            box=app.state.secret_box,
            stop=stop,
        )
    )
    task.add_done_callback(
        lambda done: (
            None
            if done.cancelled() or done.exception() is None
            else logger.error("experiment worker stopped", exc_info=done.exception())
        )
    )
    return stop, task


def create_app_from_env() -> FastAPI:
    """uvicorn factory for `llma serve` workers."""
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)
    return create_app(settings)
