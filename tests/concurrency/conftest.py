"""A client on an app with its own sessionmaker on the real engine: every request commits, and
concurrent requests contend on separate connections, as in production. Cleaned up after."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncEngine

from app.db.engine import create_sessionmaker
from app.main import create_app
from app.models import Organization, User
from app.settings import Settings
from tests.factories import Identity, make_identity


@dataclass
class Committed:
    client: httpx.AsyncClient
    identity: Identity
    app: object

    def url(self, path: str) -> str:
        return f"/api/environments/{self.identity.team.id}/{path}"


@pytest.fixture
async def committed(engine: AsyncEngine, settings: Settings) -> AsyncIterator[Committed]:
    sessionmaker = create_sessionmaker(engine)
    # No test here calls a provider: any outbound call is refused.
    transport = httpx.MockTransport(lambda request: httpx.Response(599))
    application = create_app(settings, sessionmaker=sessionmaker, http_transport=transport)
    async with sessionmaker() as session:
        identity = await make_identity(session)
        await session.commit()
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=application),
            base_url="http://testserver",
            headers=identity.headers,
        ) as client:
            yield Committed(client, identity, application)
    finally:
        await application.state.http_client.aclose()
        async with sessionmaker() as session:
            await session.execute(
                delete(Organization).where(Organization.id == identity.organization.id)
            )
            await session.execute(delete(User).where(User.id == identity.user.id))
            await session.commit()
