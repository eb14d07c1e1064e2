"""Deleting a provider key while something points at it, concurrently and with real commits:
the other request answers 404 (or 400 on a body field), never a 500 from the foreign key."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from app.db.engine import create_sessionmaker
from app.models import EvaluationConfig
from tests.concurrency.conftest import Committed
from tests.evaluations.helpers import add_provider_key

ITERATIONS = 25


async def _fresh_key(engine: AsyncEngine, committed: Committed, name: str) -> str:
    async with create_sessionmaker(engine)() as session:
        key = await add_provider_key(session, committed.app, committed.identity, name=name)
    return str(key.id)


async def test_set_active_key_racing_a_delete_is_404(
    committed: Committed,
    engine: AsyncEngine,
) -> None:
    client = committed.client
    keys = committed.url("llm_analytics/provider_keys/")
    config = committed.url("llm_analytics/evaluation_config/")
    await client.get(config)
    outcomes: set[tuple[int, int]] = set()
    for n in range(ITERATIONS):
        key_id = await _fresh_key(engine, committed, f"key {n}")
        activated, deleted = await asyncio.gather(
            client.post(f"{config}set_active_key/", json={"key_id": key_id}),
            client.delete(f"{keys}{key_id}/"),
        )
        assert activated.status_code in (200, 404), activated.text
        if activated.status_code == 404:
            assert activated.json()["detail"] == "Key not found."
        assert deleted.status_code == 204, deleted.text
        outcomes.add((activated.status_code, deleted.status_code))
        # Whichever came first, the deleted key is not the active one.
        assert (await client.get(config)).json()["active_provider_key"] is None
    async with create_sessionmaker(engine)() as session:
        active = await session.scalar(
            select(EvaluationConfig.active_provider_key_id).where(
                EvaluationConfig.team_id == committed.identity.team.id
            )
        )
    assert active is None
    assert outcomes  # at least one round ran


async def test_evaluation_referencing_a_key_being_deleted(
    committed: Committed,
    engine: AsyncEngine,
) -> None:
    client = committed.client
    keys = committed.url("llm_analytics/provider_keys/")
    for n in range(ITERATIONS):
        key_id = await _fresh_key(engine, committed, f"key {n}")
        body: dict[str, Any] = {
            "name": f"e{n}",
            "evaluation_config": {"prompt": "p"},
            "model_configuration": {
                "provider": "openai",
                "model": "gpt-4o-mini",
                "provider_key_id": key_id,
            },
        }
        created, deleted = await asyncio.gather(
            client.post(committed.url("evaluations/"), json=body),
            client.delete(f"{keys}{key_id}/"),
        )
        assert deleted.status_code == 204, deleted.text
        assert created.status_code in (201, 400), created.text
        if created.status_code == 400:
            assert created.json()["attr"] == "model_configuration.provider_key_id"
        else:
            # Created first, then the key went: the evaluation says so.
            url = committed.url(f"evaluations/{created.json()['id']}/")
            assert (await client.get(url)).json()["status"] == "error"
