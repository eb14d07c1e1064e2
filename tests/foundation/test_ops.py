"""Operational endpoints: health, readiness, metrics, schema and offline docs."""

from __future__ import annotations

import time

import httpx

from app.db.engine import create_engine, create_sessionmaker
from app.main import create_app
from app.settings import Settings
from tests.factories import Identity
from tests.foundation.probe import router as probe_router


async def test_healthz(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_ok(client: httpx.AsyncClient) -> None:
    response = await client.get("/readyz")
    assert response.status_code == 200


async def test_readyz_503_when_database_unreachable(settings: Settings) -> None:
    # A port nothing listens on stands for a stopped database.
    dead = create_engine("postgresql+asyncpg://postgres@127.0.0.1:9/none")
    app = create_app(settings, sessionmaker=create_sessionmaker(dead))
    started = time.monotonic()
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://testserver"
        ) as client:
            response = await client.get("/readyz")
    finally:
        await dead.dispose()
    assert response.status_code == 503
    assert response.json()["type"] == "server_error"
    assert time.monotonic() - started < 5


async def test_api_answers_503_when_database_unreachable(
    settings: Settings, identity: Identity
) -> None:
    dead = create_engine("postgresql+asyncpg://postgres@127.0.0.1:9/none")
    app = create_app(settings, sessionmaker=create_sessionmaker(dead))
    app.include_router(probe_router)
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://testserver"
        ) as client:
            response = await client.get(
                f"/api/environments/{identity.team.id}/probes/", headers=identity.headers
            )
    finally:
        await dead.dispose()
    assert response.status_code == 503
    assert response.json()["code"] == "database_unavailable"


async def test_metrics_count_requests_by_route(client: httpx.AsyncClient) -> None:
    await client.get("/healthz")
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert 'http_requests_total{method="GET",route="/healthz",status="200"}' in response.text


async def test_openapi_document(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/schema/")
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.1")
    assert "PersonalAPIKey" in schema["components"]["securitySchemes"]
    assert not any(path.startswith("/api/projects/") for path in schema["paths"])


async def test_docs_are_served_without_a_cdn(client: httpx.AsyncClient) -> None:
    response = await client.get("/docs")
    assert response.status_code == 200
    html = response.text
    assert "/static/swagger/swagger-ui-bundle.js" in html
    assert "cdn" not in html.lower()
    assert "https://" not in html.split("<body>")[-1]
    asset = await client.get("/static/swagger/swagger-ui-bundle.js")
    assert asset.status_code == 200
    assert len(asset.content) > 100_000


async def test_root_redirects_to_the_docs(client: httpx.AsyncClient) -> None:
    response = await client.get("/", follow_redirects=False)
    assert response.status_code in (307, 308)
    assert response.headers["location"] == "/docs"
    schema = (await client.get("/api/schema/")).json()
    assert "/" not in schema["paths"]
