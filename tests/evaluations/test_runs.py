"""Run ingestion and listing: batch limits, all-or-nothing, idempotency, N/A rules, filters."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from tests.evaluations.helpers import add_runs, create_evaluation, evaluations_url, run
from tests.factories import Identity, add_key, bearer, make_identity


@pytest.fixture
async def evaluation(api: httpx.AsyncClient, identity: Identity) -> dict[str, Any]:
    return await create_evaluation(api, identity.team.id)


def runs_url(identity: Identity, evaluation: dict[str, Any]) -> str:
    return evaluations_url(identity.team.id, evaluation["id"], "runs")


async def count_runs(api: httpx.AsyncClient, url: str, **params: str) -> int:
    response = await api.get(url, params={"limit": "1", **params})
    assert response.status_code == 200, response.text
    count: int = response.json()["count"]
    return count


async def test_thousand_runs_in_one_call(
    api: httpx.AsyncClient, identity: Identity, evaluation: dict[str, Any]
) -> None:
    url = runs_url(identity, evaluation)
    batch = [run(i % 3 != 0, f"reason {i}") for i in range(1000)]
    assert await add_runs(api, identity.team.id, evaluation["id"], batch) == {
        "created": 1000,
        "duplicates": 0,
        "conflicts": 0,
        "conflict_ids": [],
    }
    assert await count_runs(api, url) == 1000
    assert await count_runs(api, url, filter="fail") == 334

    too_many = await api.post(url, json={"runs": [run(True) for _ in range(1001)]})
    assert too_many.status_code == 400
    assert too_many.json()["attr"] == "runs"
    assert too_many.json()["code"] == "max_length"
    assert await count_runs(api, url) == 1000


@pytest.mark.parametrize(
    ("bad", "attr"),
    [
        ({"result": "maybe"}, "runs.3.result"),
        ({"generation_id": ""}, "runs.3.generation_id"),
        ({"timestamp": "yesterday"}, "runs.3.timestamp"),
        ({"id": "not-a-uuid"}, "runs.3.id"),
        ({"applicable": "perhaps"}, "runs.3.applicable"),
    ],
)
async def test_one_bad_run_stores_nothing(
    api: httpx.AsyncClient,
    identity: Identity,
    evaluation: dict[str, Any],
    bad: dict[str, Any],
    attr: str,
) -> None:
    batch = [run(True) for _ in range(5)]
    batch[3].update(bad)
    response = await api.post(runs_url(identity, evaluation), json={"runs": batch})
    assert response.status_code == 400
    assert response.json()["attr"] == attr
    assert await count_runs(api, runs_url(identity, evaluation)) == 0


async def test_missing_fields_and_empty_batch(
    api: httpx.AsyncClient, identity: Identity, evaluation: dict[str, Any]
) -> None:
    url = runs_url(identity, evaluation)
    for field in ("result", "reasoning", "generation_id"):
        broken = run(True)
        del broken[field]
        response = await api.post(url, json={"runs": [run(False), broken]})
        assert response.status_code == 400
        assert (response.json()["attr"], response.json()["code"]) == (f"runs.1.{field}", "required")
    for body, attr in (({"runs": []}, "runs"), ({}, "runs"), ({"runs": "x"}, "runs")):
        response = await api.post(url, json=body)
        assert response.status_code == 400
        assert response.json()["attr"] == attr
    assert await count_runs(api, url) == 0


async def test_resending_reports_duplicates(
    api: httpx.AsyncClient, identity: Identity, evaluation: dict[str, Any]
) -> None:
    url = runs_url(identity, evaluation)
    batch = [run(True) for _ in range(4)]
    assert await add_runs(api, identity.team.id, evaluation["id"], batch) == {
        "created": 4,
        "duplicates": 0,
        "conflicts": 0,
        "conflict_ids": [],
    }
    assert await add_runs(api, identity.team.id, evaluation["id"], batch) == {
        "created": 0,
        "duplicates": 4,
        "conflicts": 0,
        "conflict_ids": [],
    }
    mixed = [*batch[:2], run(False), run(False)]
    assert await add_runs(api, identity.team.id, evaluation["id"], mixed) == {
        "created": 2,
        "duplicates": 2,
        "conflicts": 0,
        "conflict_ids": [],
    }
    twice = run(True)
    assert await add_runs(api, identity.team.id, evaluation["id"], [twice, dict(twice)]) == {
        "created": 1,
        "duplicates": 1,
        "conflicts": 0,
        "conflict_ids": [],
    }
    assert await count_runs(api, url) == 7


async def test_run_ids_are_per_team_and_evaluation(
    api: httpx.AsyncClient,
    other_api: httpx.AsyncClient,
    identity: Identity,
    other: Identity,
    evaluation: dict[str, Any],
) -> None:
    """Another team's run id, or another evaluation's, is no duplicate: nothing leaks."""
    batch = [run(True), run(False)]
    await add_runs(api, identity.team.id, evaluation["id"], batch)

    theirs = await create_evaluation(other_api, other.team.id)
    outcome = await add_runs(other_api, other.team.id, theirs["id"], batch)
    assert outcome == {"created": 2, "duplicates": 0, "conflicts": 0, "conflict_ids": []}
    second = await create_evaluation(api, identity.team.id, name="Second")
    outcome = await add_runs(api, identity.team.id, second["id"], batch)
    assert outcome == {"created": 2, "duplicates": 0, "conflicts": 0, "conflict_ids": []}

    for client, team, evaluation_id in (
        (api, identity.team.id, evaluation["id"]),
        (api, identity.team.id, second["id"]),
        (other_api, other.team.id, theirs["id"]),
    ):
        url = evaluations_url(team, evaluation_id, "runs")
        listed = (await client.get(url)).json()["results"]
        assert sorted(r["id"] for r in listed) == sorted(r["id"] for r in batch)


async def test_same_id_with_other_content_is_a_conflict(
    api: httpx.AsyncClient, identity: Identity, evaluation: dict[str, Any]
) -> None:
    url = runs_url(identity, evaluation)
    stamped = run(True, "grounded", timestamp="2026-01-02T03:04:05.000006Z")
    plain = run(False, "invented")
    await add_runs(api, identity.team.id, evaluation["id"], [stamped, plain])

    changed = {**plain, "result": True}
    restamped = {**stamped, "timestamp": "2026-01-02T03:04:05Z"}
    # A retry without the timestamp is still the same run (it defaults at ingestion).
    retried = {key: value for key, value in stamped.items() if key != "timestamp"}
    fresh = run(True)
    outcome = await add_runs(
        api, identity.team.id, evaluation["id"], [retried, changed, restamped, fresh, changed]
    )
    assert outcome == {
        "created": 1,
        "duplicates": 1,
        "conflicts": 3,
        "conflict_ids": [plain["id"], stamped["id"]],
    }
    # The stored runs stay as they were.
    listed = {r["id"]: r for r in (await api.get(url)).json()["results"]}
    assert len(listed) == 3
    assert listed[plain["id"]]["result"] is False
    assert listed[stamped["id"]]["timestamp"] == "2026-01-02T03:04:05.000006Z"

    # Within one batch: the first run with an id is stored, a different second one conflicts.
    first = run(True, "first")
    outcome = await add_runs(
        api, identity.team.id, evaluation["id"], [first, {**first, "reasoning": "second"}]
    )
    assert outcome == {"created": 1, "duplicates": 0, "conflicts": 1, "conflict_ids": [first["id"]]}


@pytest.mark.parametrize(
    "timestamp",
    ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+00:01"],
)
async def test_out_of_range_timestamp_is_400(
    api: httpx.AsyncClient, identity: Identity, evaluation: dict[str, Any], timestamp: str
) -> None:
    url = runs_url(identity, evaluation)
    response = await api.post(url, json={"runs": [run(True), run(True, timestamp=timestamp)]})
    assert response.status_code == 400, response.text
    assert response.json()["attr"] == "runs.1.timestamp"
    assert response.json()["code"] == "invalid"
    # The extremes that do fit are kept as sent.
    edges = [
        run(True, timestamp="0001-01-01T00:00:00Z"),
        run(True, timestamp="9999-12-31T23:59:59.999999Z"),
        run(True, timestamp="0001-01-01T14:00:00+13:59"),
    ]
    await add_runs(api, identity.team.id, evaluation["id"], edges)
    stamps = sorted(r["timestamp"] for r in (await api.get(url)).json()["results"])
    assert stamps == [
        "0001-01-01T00:00:00.000000Z",
        "0001-01-01T00:01:00.000000Z",
        "9999-12-31T23:59:59.999999Z",
    ]


async def test_na_runs_need_allows_na(
    api: httpx.AsyncClient, identity: Identity, evaluation: dict[str, Any]
) -> None:
    url = runs_url(identity, evaluation)
    for na_run, attr in (
        (run(None), "runs.1.result"),
        (run(True, applicable=False), "runs.1.applicable"),
    ):
        response = await api.post(url, json={"runs": [run(True), na_run]})
        assert response.status_code == 400
        assert response.json()["attr"] == attr
        assert "allows_na" in response.json()["detail"]
    assert await count_runs(api, url) == 0

    lenient = await create_evaluation(api, identity.team.id, output_config={"allows_na": True})
    created = await add_runs(
        api, identity.team.id, lenient["id"], [run(None), run(False, applicable=False)]
    )
    assert created["created"] == 2


async def test_verdicts_filters_and_order(api: httpx.AsyncClient, identity: Identity) -> None:
    evaluation = await create_evaluation(api, identity.team.id, output_config={"allows_na": True})
    url = runs_url(identity, evaluation)
    base = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)

    def at(minutes: int) -> str:
        return (base + dt.timedelta(minutes=minutes)).isoformat()

    runs = {
        "pass": run(True, "good", applicable=True, timestamp=at(1), trace_id="t-1"),
        "pass_implicit": run(True, "fine", timestamp=at(2)),
        "fail": run(False, "wrong", timestamp=at(3)),
        "na_result": run(None, "n/a", timestamp=at(4)),
        "na_applicable": run(True, "skip", applicable=False, timestamp="2026-01-01T00:05:00"),
    }
    await add_runs(api, identity.team.id, evaluation["id"], list(runs.values()))

    listed = (await api.get(url)).json()
    assert [row["id"] for row in listed["results"]] == [
        runs[name]["id"] for name in ("na_applicable", "na_result", "fail", "pass_implicit", "pass")
    ]
    first = listed["results"][-1]
    assert first == {
        "id": runs["pass"]["id"],
        "generation_id": runs["pass"]["generation_id"],
        "trace_id": "t-1",
        "result": True,
        "applicable": True,
        "reasoning": "good",
        "timestamp": "2026-01-01T00:01:00.000000Z",
        "verdict": "pass",
        "created_at": first["created_at"],
    }
    assert listed["results"][0]["timestamp"] == "2026-01-01T00:05:00.000000Z"
    assert listed["results"][3]["applicable"] is None

    expected = {
        "pass": {runs["pass"]["id"], runs["pass_implicit"]["id"]},
        "fail": {runs["fail"]["id"]},
        "na": {runs["na_result"]["id"], runs["na_applicable"]["id"]},
    }
    for verdict, ids in expected.items():
        body = (await api.get(url, params={"filter": verdict})).json()
        assert body["count"] == len(ids)
        assert {row["id"] for row in body["results"]} == ids
        assert {row["verdict"] for row in body["results"]} == {verdict}

    paged = (await api.get(url, params={"filter": "na", "limit": 1})).json()
    assert "filter=na" in paged["next"]
    assert "offset=1" in paged["next"]
    huge = await api.get(url, params={"offset": "9" * 30})
    assert huge.status_code == 400
    assert huge.json()["attr"] == "offset"
    bad = await api.get(url, params={"filter": "maybe"})
    assert bad.status_code == 400
    assert bad.json()["attr"] == "filter"


async def test_ties_break_by_id_and_defaults(
    api: httpx.AsyncClient, identity: Identity, evaluation: dict[str, Any]
) -> None:
    url = runs_url(identity, evaluation)
    same = "2026-02-01T00:00:00Z"
    tied = [run(True, timestamp=same) for _ in range(3)]
    await add_runs(api, identity.team.id, evaluation["id"], tied)
    listed = (await api.get(url)).json()["results"]
    assert [row["id"] for row in listed] == sorted((r["id"] for r in tied), reverse=True)

    before = dt.datetime.now(dt.UTC)
    defaulted = {"generation_id": "gen-x", "result": False, "reasoning": "r"}
    await add_runs(api, identity.team.id, evaluation["id"], [defaulted])
    newest = (await api.get(url)).json()["results"][0]
    assert newest["generation_id"] == "gen-x"
    assert uuid.UUID(newest["id"]).version == 7
    stamped = dt.datetime.fromisoformat(newest["timestamp"].replace("Z", "+00:00"))
    assert before - dt.timedelta(seconds=5) <= stamped <= dt.datetime.now(dt.UTC)


async def test_runs_of_unreachable_evaluations_are_404(
    api: httpx.AsyncClient,
    client: httpx.AsyncClient,
    session: AsyncSession,
    identity: Identity,
    evaluation: dict[str, Any],
) -> None:
    other = await make_identity(session)
    await session.commit()
    theirs = await client.post(
        evaluations_url(other.team.id),
        json={"name": "Theirs", "evaluation_config": {"prompt": "p"}},
        headers=other.headers,
    )
    deleted = await create_evaluation(api, identity.team.id, name="Gone")
    await api.patch(evaluations_url(identity.team.id, deleted["id"]), json={"deleted": True})

    for evaluation_id in (theirs.json()["id"], deleted["id"], str(uuid.uuid4()), "nope"):
        url = evaluations_url(identity.team.id, evaluation_id, "runs")
        assert (await api.get(url)).status_code == 404
        assert (await api.post(url, json={"runs": [run(True)]})).status_code == 404
    their_runs = evaluations_url(other.team.id, theirs.json()["id"], "runs")
    assert (await client.get(their_runs, headers=other.headers)).json()["count"] == 0


async def test_runs_scopes_and_methods(
    client: httpx.AsyncClient,
    session: AsyncSession,
    identity: Identity,
    evaluation: dict[str, Any],
) -> None:
    read_only = bearer(await add_key(session, identity, scopes=["evaluation:read"]))
    await session.commit()
    url = runs_url(identity, evaluation)
    assert (await client.get(url, headers=read_only)).status_code == 200
    response = await client.post(url, headers=read_only, json={"runs": [run(True)]})
    assert response.status_code == 403
    assert response.json()["detail"] == "API key missing required scope 'evaluation:write'"
    response = await client.delete(url, headers=identity.headers)
    assert response.status_code == 405
