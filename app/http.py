"""The one shared outbound `httpx.AsyncClient` every provider call goes through."""

from __future__ import annotations

import httpx

from app.settings import Settings


def create_http_client(
    settings: Settings, transport: httpx.AsyncBaseTransport | None = None
) -> httpx.AsyncClient:
    """Built in the app lifespan; tests pass a mock transport here."""
    return httpx.AsyncClient(
        timeout=httpx.Timeout(settings.provider_timeout_seconds),
        limits=httpx.Limits(max_connections=100, max_keepalive_connections=20),
        transport=transport,
        follow_redirects=False,
        headers={"user-agent": "llma/0.1"},
    )
