"""Experiments run end to end: HTTP → queue → worker → fake judge → results, runs, summary."""

from __future__ import annotations

from tests.experiments.conftest import Committed, make_dataset
from tests.evaluations.helpers import evaluations_url


async def test_experiment_without_generate_succeeds_and_agrees_everywhere(
    committed: Committed,
) -> None:
    team = committed.identity.team.id
    dataset, items = await make_dataset(committed.api, team, 6)
    evaluation = await committed.evaluation(
        model_configuration={"provider": "openai", "model": "gpt-judge", "provider_key_id": None}
    )
    committed.fake.verdicts = {"item-1": "fail", "item-4": "fail"}

    started = await committed.start(dataset=dataset, evaluations=[evaluation], name="baseline")
    assert started["status"] == "queued"
    assert committed.fake.calls == []  # nothing waited on a provider

    await committed.drain()

    experiment = await committed.get(started["id"])
    assert experiment["status"] == "succeeded", experiment
    assert experiment["progress"] == {"total": 6, "done": 6, "errored": 0}
    assert experiment["results"] == [
        {
            "evaluation_id": evaluation,
            "name": "Helpfulness",
            "pass": 4,
            "fail": 2,
            "na": 0,
            "error": 0,
            "pass_rate": 4 / 6,
        }
    ]
    assert experiment["usage"] == [
        {"provider": "openai", "calls": 6, "input_tokens": 66, "output_tokens": 42}
    ]
    assert experiment["started_at"] and experiment["finished_at"]
    # The judge used the evaluation's model and saw the item's input and stored output.
    judge_call = committed.fake.calls[0]
    assert judge_call["model"] == "gpt-judge"
    assert "answer " in judge_call["messages"][1]["content"]

    results = await committed.get(started["id"], "results")
    assert results["count"] == 6
    by_item = {r["dataset_item"]: r["verdict"] for r in results["results"]}
    assert by_item[items[1]] == by_item[items[4]] == "fail"
    assert sorted(by_item) == sorted(items)
    failed = await committed.get(started["id"], "results", verdict="fail")
    assert failed["count"] == 2

    # Every verdict is also an evaluation run, linked to the item.
    runs = await committed.api.get(evaluations_url(team, evaluation, "runs"), params={"limit": 50})
    assert runs.status_code == 200
    run_verdicts = {r["generation_id"]: r["verdict"] for r in runs.json()["results"]}
    assert run_verdicts == by_item

    # The summary reads those runs: its statistics are the experiment's tallies.
    summary = await committed.api.post(
        f"/api/environments/{team}/llm_analytics/evaluation_summary/",
        json={"evaluation_id": evaluation},
    )
    assert summary.status_code == 200, summary.text
    assert summary.json()["statistics"] == {
        "total_analyzed": 6,
        "pass_count": 4,
        "fail_count": 2,
        "na_count": 0,
    }

    calls = await committed.get(started["id"], "calls")
    assert calls["count"] == 6
    call = calls["results"][0]
    assert call["outcome"] == "ok" and call["purpose"] == "judge"
    assert call["key_source"] == "active" and len(call["prompt_sha256"]) == 64
    assert "sk-team" not in str(calls)

    # A second drain finds nothing to do: no call is repeated.
    await committed.drain()
    assert len(committed.fake.calls) == 6 + 1  # six verdicts and the summary
