"""`create_app`: what tests hand in is used as given; what they do not, the lifespan builds."""

from __future__ import annotations

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.main import create_app
from app.settings import Settings


async def test_a_given_sessionmaker_and_transport_are_used(
    settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    seen: list[str] = []

    def provider(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(204)

    app = create_app(
        settings, sessionmaker=sessionmaker, http_transport=httpx.MockTransport(provider)
    )
    assert app.state.sessionmaker is sessionmaker  # usable without a lifespan, too
    async with app.router.lifespan_context(app):
        assert app.state.sessionmaker is sessionmaker
        client = app.state.http_client
        await client.get("https://api.openai.com/v1/models")
    assert seen == ["https://api.openai.com/v1/models"]
    assert client.is_closed


async def test_without_a_sessionmaker_the_lifespan_builds_one(settings: Settings) -> None:
    app = create_app(settings)
    assert not hasattr(app.state, "sessionmaker")
    async with app.router.lifespan_context(app), app.state.sessionmaker() as session:
        assert (await session.execute(text("SELECT 1"))).scalar_one() == 1
    assert app.state.http_client.is_closed
