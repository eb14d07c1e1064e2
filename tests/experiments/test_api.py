"""Experiment endpoints without a worker: validation, scopes, isolation, listing, PostHog's
single-target `evaluation_runs/` (each test rolls back)."""

from __future__ import annotations

import uuid

import httpx
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Evaluation
from tests.evaluations.helpers import create_evaluation
from tests.experiments.conftest import make_dataset, url
from tests.factories import Identity, add_key, bearer


async def _setup(api: httpx.AsyncClient, identity: Identity, items: int = 2) -> tuple[str, str]:
    dataset, _ = await make_dataset(api, identity.team.id, items)
    evaluation = await create_evaluation(api, identity.team.id)
    return dataset, str(evaluation["id"])


async def test_start_answers_queued_and_reads_back(
    api: httpx.AsyncClient, identity: Identity
) -> None:
    dataset, evaluation = await _setup(api, identity)
    response = await api.post(
        url(identity.team.id),
        json={"dataset": dataset, "evaluations": [evaluation], "metadata": {"run": 1}},
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert uuid.UUID(body["id"]).version == 7
    assert body["status"] == "queued"
    assert body["status_reason"] is None
    assert body["progress"] == {"total": 0, "done": 0, "errored": 0}
    assert body["name"] == "Experiment"
    assert body["metadata"] == {"run": 1}
    assert body["created_by"]["id"] == identity.user.id
    assert body["team"] == identity.team.id
    fetched = await api.get(url(identity.team.id, body["id"]))
    assert fetched.json() == body
    listed = await api.get(url(identity.team.id), params={"dataset": dataset, "status": "queued"})
    assert [e["id"] for e in listed.json()["results"]] == [body["id"]]
    assert (await api.get(url(identity.team.id), params={"status": "running"})).json()["count"] == 0
    projects = await api.get(f"/api/projects/{identity.team.id}/experiments/{body['id']}/")
    assert projects.status_code == 200


async def test_list_is_newest_first_and_paged(api: httpx.AsyncClient, identity: Identity) -> None:
    dataset, evaluation = await _setup(api, identity)
    ids = []
    for _ in range(3):
        created = await api.post(
            url(identity.team.id), json={"dataset": dataset, "evaluations": [evaluation]}
        )
        ids.append(created.json()["id"])
    first = (await api.get(url(identity.team.id), params={"limit": 2})).json()
    assert first["count"] == 3
    assert [e["id"] for e in first["results"]] == ids[::-1][:2]
    assert first["next"] is not None
    bad = await api.get(url(identity.team.id), params={"status": "sleeping"})
    assert bad.status_code == 400
    assert bad.json()["attr"] == "status"
    unknown = await api.get(url(identity.team.id), params={"colour": "red"})
    assert unknown.status_code == 400
    assert unknown.json()["attr"] == "colour"


async def test_validation_names_the_field(
    api: httpx.AsyncClient,
    identity: Identity,
    other_api: httpx.AsyncClient,
    other: Identity,
    session: AsyncSession,
) -> None:
    team = identity.team.id
    dataset, evaluation = await _setup(api, identity)
    theirs_dataset, theirs_evaluation = await _setup(other_api, other)
    empty = (await api.post(f"/api/environments/{team}/datasets/", json={"name": "empty"})).json()[
        "id"
    ]

    async def refused(body: dict[str, object]) -> dict[str, object]:
        response = await api.post(url(team), json=body)
        assert response.status_code == 400, response.text
        result: dict[str, object] = response.json()
        return result

    assert (await refused({"dataset": theirs_dataset, "evaluations": [evaluation]}))[
        "attr"
    ] == "dataset"
    assert (await refused({"dataset": str(uuid.uuid4()), "evaluations": [evaluation]}))[
        "attr"
    ] == "dataset"
    assert (await refused({"dataset": empty, "evaluations": [evaluation]}))["attr"] == "dataset"
    foreign = await refused({"dataset": dataset, "evaluations": [evaluation, theirs_evaluation]})
    assert foreign["attr"] == "evaluations.1"
    assert theirs_evaluation in str(foreign["detail"])
    assert (await refused({"dataset": dataset, "evaluations": []}))["attr"] == "evaluations"
    many = [evaluation] + [str(uuid.uuid4()) for _ in range(10)]
    assert (await refused({"dataset": dataset, "evaluations": many}))["attr"] == "evaluations"
    assert (await refused({"evaluations": [evaluation]}))["attr"] == "dataset"
    generate = {"model": "m", "prompt": "{{input}}", "provider_key_id": str(uuid.uuid4())}
    assert (await refused({"dataset": dataset, "evaluations": [evaluation], "generate": generate}))[
        "attr"
    ] == "generate.provider_key_id"
    assert (
        await refused({"dataset": dataset, "evaluations": [evaluation], "generate": {"model": "m"}})
    )["attr"] == "generate.prompt"
    # Only llm_judge evaluations run (a `hog` one stored by another client is refused).
    await session.execute(
        update(Evaluation)
        .where(Evaluation.id == uuid.UUID(evaluation))
        .values(evaluation_type="hog")
    )
    hog = await refused({"dataset": dataset, "evaluations": [evaluation]})
    assert hog["attr"] == "evaluations.0"
    assert "llm_judge" in str(hog["detail"])


async def test_scopes_and_isolation(
    api: httpx.AsyncClient, identity: Identity, other_api: httpx.AsyncClient, session: AsyncSession
) -> None:
    team = identity.team.id
    dataset, evaluation = await _setup(api, identity)
    created = (
        await api.post(url(team), json={"dataset": dataset, "evaluations": [evaluation]})
    ).json()
    read_only = bearer(await add_key(session, identity, scopes=["evaluation:read"]))
    await session.commit()
    body = {"dataset": dataset, "evaluations": [evaluation]}
    refused = await api.post(url(team), json=body, headers=read_only)
    assert refused.status_code == 403
    assert refused.json()["detail"] == "API key missing required scope 'evaluation:write'"
    cancel = await api.post(url(team, created["id"], "cancel"), headers=read_only)
    assert cancel.status_code == 403
    assert (await api.get(url(team, created["id"]), headers=read_only)).status_code == 200
    for path in [(created["id"],), (created["id"], "results"), (created["id"], "calls")]:
        assert (await other_api.get(url(team, *path))).status_code == 403  # not their team
    other_team = (await other_api.get("/api/environments/@current/experiments/")).json()
    assert other_team["count"] == 0
    theirs = await other_api.get(f"/api/environments/@current/experiments/{created['id']}/")
    assert theirs.status_code == 404
    compare = await other_api.get(
        "/api/environments/@current/experiments/compare/",
        params={"base": created["id"], "head": created["id"]},
    )
    assert compare.status_code == 400
    assert compare.json()["attr"] == "base"
    assert (await api.delete(url(team, created["id"]))).status_code == 405


async def test_cancel_is_final(api: httpx.AsyncClient, identity: Identity) -> None:
    dataset, evaluation = await _setup(api, identity)
    created = (
        await api.post(
            url(identity.team.id), json={"dataset": dataset, "evaluations": [evaluation]}
        )
    ).json()
    first = await api.post(url(identity.team.id, created["id"], "cancel"))
    assert first.status_code == 200
    assert first.json()["status"] == "cancelled"
    again = await api.post(url(identity.team.id, created["id"], "cancel"))
    assert again.json()["status"] == "cancelled"
    assert again.json()["finished_at"] == first.json()["finished_at"]
    missing = await api.post(url(identity.team.id, uuid.uuid4(), "cancel"))
    assert missing.status_code == 404


async def test_results_cursor_rejects_garbage(api: httpx.AsyncClient, identity: Identity) -> None:
    dataset, evaluation = await _setup(api, identity)
    created = (
        await api.post(
            url(identity.team.id), json={"dataset": dataset, "evaluations": [evaluation]}
        )
    ).json()
    first = await api.get(url(identity.team.id, created["id"], "results"), params={"cursor": ""})
    assert first.status_code == 200
    assert first.json() == {
        "count": 0,
        "next": None,
        "previous": None,
        "results": [],
    }
    bad = await api.get(url(identity.team.id, created["id"], "results"), params={"cursor": "!!"})
    assert bad.status_code == 400
    assert bad.json()["attr"] == "cursor"
    verdict = await api.get(
        url(identity.team.id, created["id"], "results"), params={"verdict": "meh"}
    )
    assert verdict.status_code == 400
    assert verdict.json()["attr"] == "verdict"


async def test_posthog_single_target_run(
    api: httpx.AsyncClient, identity: Identity, other_api: httpx.AsyncClient, other: Identity
) -> None:
    team = identity.team.id
    dataset, items = await make_dataset(api, team, 3)
    evaluation = await create_evaluation(api, team, name="Tone")
    body = {
        "evaluation_id": evaluation["id"],
        "target_event_id": items[1],
        "timestamp": "2026-12-05T10:00:00Z",
        "event": "$ai_generation",
        "distinct_id": "user-1",
    }
    response = await api.post(f"/api/environments/{team}/evaluation_runs/", json=body)
    assert response.status_code == 202, response.text
    started = response.json()
    assert started["status"] == "started"
    assert started["evaluation"] == {"id": evaluation["id"], "name": "Tone"}
    assert started["target_event_id"] == items[1]
    experiment = (await api.get(url(team, started["workflow_id"]))).json()
    assert experiment["status"] == "queued"
    assert experiment["dataset"] == dataset
    assert experiment["name"] == "Manual evaluation"
    # Another team's item or evaluation reads as unknown.
    foreign = await other_api.post(f"/api/environments/{other.team.id}/evaluation_runs/", json=body)
    assert foreign.status_code == 404
    missing = await api.post(
        f"/api/environments/{team}/evaluation_runs/",
        json={**body, "target_event_id": str(uuid.uuid4())},
    )
    assert missing.status_code == 404
    invalid = await api.post(
        f"/api/environments/{team}/evaluation_runs/", json={"evaluation_id": "x"}
    )
    assert invalid.status_code == 400
