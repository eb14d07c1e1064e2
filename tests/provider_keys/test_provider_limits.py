"""Provider calls are bounded (issue 18): a deadline for the whole call, a cap on response bytes
and on models kept, and a per-team cap on calls in flight (429 beyond it)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncEngine

from app.db.engine import create_sessionmaker
from app.main import create_app
from app.models import Organization, User
from app.settings import Settings
from tests.factories import Identity, make_identity
from tests.provider_keys.conftest import OPENAI_KEY, base_path, create_key

PROVIDER_TIMEOUT = 1.0


class Provider:
    """Model listings whose body is dripped, oversized, huge in count, or slow to start."""

    def __init__(self) -> None:
        self.mode = "ok"
        self.models = 3
        self.in_flight = 0

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        if self.mode == "drip":
            return httpx.Response(200, stream=_Drip())
        if self.mode == "oversized":
            return httpx.Response(200, json={"data": [{"id": "m" * 2000}] * 20})
        if self.mode == "slow":
            self.in_flight += 1
            try:
                await asyncio.sleep(0.6)
            finally:
                self.in_flight -= 1
        data = [{"id": f"model-{n:04d}"} for n in range(self.models)]
        return httpx.Response(200, json={"data": [{"id": "gpt-4.1-mini"}, *data]})


class _Drip(httpx.AsyncByteStream):
    """A valid start, then one byte every 0.3 s for 6 s: no single read ever times out."""

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield b'{"data": ['
        for _ in range(20):
            await asyncio.sleep(0.3)
            yield b" "
        yield b"]}"


@pytest.fixture
def provider() -> Provider:
    return Provider()


@pytest.fixture
def provider_transport(provider: Provider) -> httpx.MockTransport:
    return httpx.MockTransport(provider)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "provider_timeout_seconds": PROVIDER_TIMEOUT,
            "provider_max_response_bytes": 16 * 1024,
            "max_models": 10,
            "provider_calls_per_team": 2,
            "provider_max_connections": 8,
        }
    )


async def _validate(api: httpx.AsyncClient, team_id: int) -> httpx.Response:
    return await api.post(
        f"{base_path(team_id)}/provider_key_validations/",
        json={"provider": "openai", "api_key": OPENAI_KEY},
    )


async def test_a_dripping_provider_is_cut_at_the_deadline(
    api: httpx.AsyncClient, identity: Identity, provider: Provider
) -> None:
    key = await create_key(api, identity.team.id)
    provider.mode = "drip"
    started = time.monotonic()
    checked = await _validate(api, identity.team.id)
    validated = await api.post(f"{base_path(identity.team.id)}/provider_keys/{key['id']}/validate/")
    models = await api.get(
        f"{base_path(identity.team.id)}/models/", params={"provider": "openai", "key_id": key["id"]}
    )
    elapsed = time.monotonic() - started

    assert checked.status_code == 201, checked.text
    assert checked.json() == {"state": "error", "error_message": "Could not connect to OpenAI"}
    assert validated.json()["state"] == "error"
    assert models.status_code == 502, models.text
    assert elapsed < 3 * PROVIDER_TIMEOUT + 1.5  # three calls, each cut at its deadline


async def test_an_oversized_response_is_not_read(
    api: httpx.AsyncClient, identity: Identity, provider: Provider
) -> None:
    key = await create_key(api, identity.team.id)
    provider.mode = "oversized"
    checked = await _validate(api, identity.team.id)
    models = await api.get(
        f"{base_path(identity.team.id)}/models/", params={"provider": "openai", "key_id": key["id"]}
    )

    too_large = "OpenAI sent a response larger than 16384 bytes; it was not read"
    assert checked.json() == {"state": "error", "error_message": too_large}
    assert models.status_code == 502, models.text
    assert models.json()["detail"] == f"Could not list models from OpenAI: {too_large}"


async def test_a_huge_model_list_is_cut_to_max_models(
    api: httpx.AsyncClient, identity: Identity, provider: Provider
) -> None:
    key = await create_key(api, identity.team.id)
    provider.models = 200
    path = f"{base_path(identity.team.id)}/models/"
    query = {"provider": "openai", "key_id": key["id"]}
    first = await api.get(path, params=query)
    cached = await api.get(path, params=query)

    ids = [model["id"] for model in first.json()["models"]]
    assert first.status_code == 200, first.text
    # Exactly what the key reaches, its curated id first, then sorted, cut to MAX_MODELS.
    assert ids == ["gpt-4.1-mini", *(f"model-{n:04d}" for n in range(9))]
    assert cached.json() == first.json()


@pytest.fixture
async def committed_clients(
    engine: AsyncEngine, settings: Settings, provider_transport: httpx.MockTransport
) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient, Identity, Identity]]:
    """Two teams' clients on an app with real commits, so their requests run concurrently."""
    sessionmaker = create_sessionmaker(engine)
    application = create_app(settings, sessionmaker=sessionmaker, http_transport=provider_transport)
    async with sessionmaker() as session:
        ours, theirs = await make_identity(session), await make_identity(session)
        await session.commit()
    asgi = httpx.ASGITransport(app=application)
    try:
        async with (
            httpx.AsyncClient(transport=asgi, base_url="http://t", headers=ours.headers) as a,
            httpx.AsyncClient(transport=asgi, base_url="http://t", headers=theirs.headers) as b,
        ):
            yield a, b, ours, theirs
    finally:
        await application.state.http_client.aclose()
        async with sessionmaker() as session:
            for identity in (ours, theirs):
                await session.execute(
                    delete(Organization).where(Organization.id == identity.organization.id)
                )
                await session.execute(delete(User).where(User.id == identity.user.id))
            await session.commit()


async def test_validations_beyond_the_team_cap_get_429_and_spare_other_teams(
    committed_clients: tuple[httpx.AsyncClient, httpx.AsyncClient, Identity, Identity],
    provider: Provider,
) -> None:
    api, other_api, identity, other = committed_clients
    provider.mode = "slow"
    ours = [asyncio.create_task(_validate(api, identity.team.id)) for _ in range(5)]
    await asyncio.sleep(0.2)
    theirs = await _validate(other_api, other.team.id)
    responses = await asyncio.gather(*ours)

    assert theirs.status_code == 201, theirs.text
    assert theirs.json()["state"] == "ok"
    assert sorted(r.status_code for r in responses) == [201, 201, 429, 429, 429]
    throttled = next(r for r in responses if r.status_code == 429)
    assert throttled.json()["type"] == "throttled_error"
    assert throttled.headers["retry-after"] == "1"
    assert provider.in_flight == 0


def test_the_outbound_pool_must_outsize_one_team() -> None:
    with pytest.raises(ValueError, match="PROVIDER_MAX_CONNECTIONS"):
        Settings(_env_file=None, provider_calls_per_team=30, provider_max_connections=100)  # type: ignore[call-arg]
