"""Fixtures: a migrated PostgreSQL per session, a rolled-back transaction per test, the app."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from cryptography.fernet import Fernet
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from app.db.engine import create_engine
from app.main import create_app
from app.settings import Settings
from tests import database
from tests.factories import Identity, make_identity


@pytest.fixture(scope="session")
def server_url() -> str:
    return database.server_url()


@pytest.fixture(scope="session")
async def database_url(server_url: str) -> AsyncIterator[str]:
    url = await database.create_database(server_url)
    await database.alembic(url, "upgrade", "head")
    yield url
    await database.drop_database(server_url, url)


@pytest.fixture(scope="session")
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url, pool_size=5)
    yield engine
    await engine.dispose()


@pytest.fixture
def settings(database_url: str) -> Settings:
    """Settings for one test; override fields with `settings.model_copy(update=...)`."""
    return Settings(  # type: ignore[call-arg]
        _env_file=None,
        database_url=database_url,
        encryption_keys=Fernet.generate_key().decode(),
        allow_private_provider_urls=True,
        log_format="console",
        default_llm_provider=None,
        default_llm_api_key=None,
    )


@pytest.fixture
async def connection(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """An outer transaction rolled back after the test: every test starts clean."""
    async with engine.connect() as connection:
        transaction = await connection.begin()
        yield connection
        if transaction.is_active:
            await transaction.rollback()


@pytest.fixture
def sessionmaker(connection: AsyncConnection) -> async_sessionmaker[AsyncSession]:
    # The app's commits become savepoint releases inside the test's outer transaction.
    return async_sessionmaker(
        bind=connection,
        expire_on_commit=False,
        autoflush=False,
        join_transaction_mode="create_savepoint",
    )


@pytest.fixture
async def session(sessionmaker: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    async with sessionmaker() as session:
        yield session


@pytest.fixture
def provider_transport() -> httpx.MockTransport:
    """Outbound calls answer 599 unless a test installs its own handler (no network, ever)."""

    def refuse(request: httpx.Request) -> httpx.Response:
        return httpx.Response(599, json={"error": "no provider mock installed for this test"})

    return httpx.MockTransport(refuse)


@pytest.fixture
async def app(
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    provider_transport: httpx.AsyncBaseTransport,
) -> AsyncIterator[object]:
    application = create_app(settings, sessionmaker=sessionmaker, http_transport=provider_transport)
    # Run the app's lifespan as a server would: it closes the outbound client at the end.
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: object) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


@pytest.fixture
async def identity(session: AsyncSession) -> Identity:
    identity = await make_identity(session)
    await session.commit()
    return identity


@pytest.fixture
async def api(client: httpx.AsyncClient, identity: Identity) -> httpx.AsyncClient:
    """The test client, authenticated as `identity` (scope `*`)."""
    client.headers.update(identity.headers)
    return client


@pytest.fixture
async def other(session: AsyncSession) -> Identity:
    """A second organization, team and user: everything of theirs must be invisible to us."""
    identity = await make_identity(session)
    await session.commit()
    return identity


@pytest.fixture
async def other_api(app: object, other: Identity) -> AsyncIterator[httpx.AsyncClient]:
    """A client authenticated as `other`."""
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(
        transport=transport, base_url="http://testserver", headers=other.headers
    ) as client:
        yield client
