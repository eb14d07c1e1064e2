"""Experiments run end to end: HTTP → queue → worker → fake judge → results, runs, summary."""

from __future__ import annotations

from pydantic import SecretStr
from sqlalchemy import update

from app.models import EvaluationConfig
from tests.evaluations.helpers import evaluations_url
from tests.experiments.conftest import Committed, make_dataset


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
    assert experiment["started_at"]
    assert experiment["finished_at"]
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
    assert call["outcome"] == "ok"
    assert call["purpose"] == "judge"
    assert call["key_source"] == "active"
    assert len(call["prompt_sha256"]) == 64
    assert "sk-team" not in str(calls)

    # A second drain finds nothing to do: no call is repeated.
    await committed.drain()
    assert len(committed.fake.calls) == 6 + 1  # six verdicts and the summary


async def test_experiment_with_generate_judges_the_generated_answer(committed: Committed) -> None:
    team = committed.identity.team.id
    dataset, _items = await make_dataset(committed.api, team, 3)
    first = await committed.evaluation()
    second = await committed.evaluation(name="Politeness")
    started = await committed.start(
        dataset=dataset,
        evaluations=[first, second],
        generate={"model": "gpt-gen", "prompt": "Answer: {{input}} ({{metadata.lang}})"},
    )
    await committed.drain()

    experiment = await committed.get(started["id"])
    assert experiment["status"] == "succeeded"
    assert experiment["progress"] == {"total": 6, "done": 6, "errored": 0}
    results = (await committed.get(started["id"], "results"))["results"]
    assert len(results) == 6
    assert {r["generated_output"] for r in results} == {f"generated for item-{n}" for n in range(3)}
    # One generate call per item (shared by both evaluations), then one judge call per pair.
    generate_calls = [c for c in committed.fake.calls if c["model"] == "gpt-gen"]
    assert len(generate_calls) == 3
    assert generate_calls[0]["messages"][1]["content"].startswith("Answer: item-")
    judge_prompts = [
        c["messages"][1]["content"] for c in committed.fake.calls if c["model"] != "gpt-gen"
    ]
    assert len(judge_prompts) == 6
    assert all("generated for item-" in prompt for prompt in judge_prompts)
    ledger = (await committed.get(started["id"], "calls"))["results"]
    assert sorted(c["purpose"] for c in ledger) == ["generate"] * 3 + ["judge"] * 6


async def test_compare_finds_planted_regressions_with_mcnemar(committed: Committed) -> None:
    team = committed.identity.team.id
    dataset, items = await make_dataset(committed.api, team, 12)
    evaluation = await committed.evaluation()
    committed.fake.verdicts = {"item-10": "fail", "item-11": "fail"}
    base = await committed.start(dataset=dataset, evaluations=[evaluation], name="base")
    await committed.drain()
    # Head: items 2..9 regress (b = 8), items 10 and 11 improve (c = 2).
    committed.fake.verdicts = {f"item-{n}": "fail" for n in range(2, 10)}
    head = await committed.start(dataset=dataset, evaluations=[evaluation], name="head")
    await committed.drain()

    compared = await committed.get("compare", base=base["id"], head=head["id"], limit=5)
    [row] = compared["evaluations"]
    assert (row["regressed"], row["improved"], row["stayed"], row["paired"]) == (8, 2, 2, 12)
    assert row["p_value"] == 0.109375
    assert row["base_pass_rate"] == 10 / 12
    assert row["head_pass_rate"] == 4 / 12
    assert row["paired_difference"] == (2 - 8) / 12
    low, high = row["base_ci95"]
    assert 0.5 < low < 10 / 12 < high < 1
    regressed = compared["regressed_items"]
    assert regressed["count"] == 8
    assert len(regressed["results"]) == 5
    assert regressed["next"] is not None
    assert {r["dataset_item"] for r in regressed["results"]} <= set(items[2:10])


async def test_cancel_stops_dispatching(committed: Committed) -> None:
    team = committed.identity.team.id
    dataset, _ = await make_dataset(committed.api, team, 4)
    evaluation = await committed.evaluation()
    started = await committed.start(dataset=dataset, evaluations=[evaluation])
    cancelled = await committed.api.post(
        f"/api/environments/{team}/experiments/{started['id']}/cancel/"
    )
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"
    await committed.drain()
    experiment = await committed.get(started["id"])
    assert experiment["status"] == "cancelled"
    assert experiment["progress"]["done"] == 0
    assert committed.fake.calls == []


async def test_trial_limit_stops_the_experiment(committed: Committed) -> None:
    team = committed.identity.team.id
    secret = committed.app.state.settings.model_copy(
        update={
            "default_llm_provider": "openai",
            "default_llm_api_key": SecretStr("sk-operator-0000"),
        }
    )
    committed.app.state.settings = secret
    # The team has no active key of its own: the operator's key spends trial evals.
    async with committed.app.state.sessionmaker() as session:
        await session.execute(
            update(EvaluationConfig)
            .where(EvaluationConfig.team_id == team)
            .values(active_provider_key_id=None, trial_eval_limit=3, trial_evals_used=0)
        )
        await session.commit()
    dataset, _ = await make_dataset(committed.api, team, 5)
    evaluation = await committed.evaluation()
    started = await committed.start(dataset=dataset, evaluations=[evaluation])
    await committed.drain()
    experiment = await committed.get(started["id"])
    assert experiment["status"] == "failed"
    assert experiment["status_reason"] == "trial_limit_reached"
    assert experiment["progress"]["done"] == 3
    assert len(committed.fake.calls) == 3
    config = await committed.api.get(f"/api/environments/{team}/llm_analytics/evaluation_config/")
    assert config.json()["trial_evals_used"] == 3


async def test_retries_then_error_verdicts_and_the_ledger_says_why(committed: Committed) -> None:
    team = committed.identity.team.id
    dataset, items = await make_dataset(committed.api, team, 2)
    evaluation = await committed.evaluation()
    # Item 0: 429, 500, then a good answer. Item 1: four 503s: an error verdict.
    committed.fake.failures = {"item-0": [429, 500], "item-1": [503] * 4}
    started = await committed.start(dataset=dataset, evaluations=[evaluation])
    await committed.drain()
    experiment = await committed.get(started["id"])
    assert experiment["status"] == "succeeded"
    assert experiment["progress"] == {"total": 2, "done": 2, "errored": 1}
    results = {
        r["dataset_item"]: r for r in (await committed.get(started["id"], "results"))["results"]
    }
    assert results[items[0]]["verdict"] == "pass"
    assert results[items[1]]["verdict"] == "error"
    assert "unavailable" in results[items[1]]["error"]
    outcomes = [c["outcome"] for c in (await committed.get(started["id"], "calls"))["results"]]
    assert outcomes == ["rate_limited", "unavailable", "ok"] + ["unavailable"] * 4
    assert experiment["results"][0]["error"] == 1
    assert experiment["results"][0]["pass_rate"] == 1.0


async def test_unusable_answer_is_retried_once_then_an_error(committed: Committed) -> None:
    team = committed.identity.team.id
    dataset, _ = await make_dataset(committed.api, team, 1)
    evaluation = await committed.evaluation()
    committed.fake.bad_answers = 2
    started = await committed.start(dataset=dataset, evaluations=[evaluation])
    await committed.drain()
    [result] = (await committed.get(started["id"], "results"))["results"]
    assert result["verdict"] == "error"
    assert "verdict must be one of" in result["error"]
    assert len(committed.fake.calls) == 2
    assert "previous answer was rejected" in committed.fake.calls[1]["messages"][1]["content"]


async def test_a_rejected_key_stops_the_experiment_and_the_ledger_says_why(
    committed: Committed,
) -> None:
    team = committed.identity.team.id
    dataset, _ = await make_dataset(committed.api, team, 3)
    evaluation = await committed.evaluation()
    committed.fake.failures = {"item-0": [401]}
    started = await committed.start(dataset=dataset, evaluations=[evaluation])
    await committed.drain()
    experiment = await committed.get(started["id"])
    assert experiment["status"] == "failed"
    assert experiment["status_reason"] == "provider_auth_failed"
    assert experiment["progress"]["done"] == 0
    [call] = (await committed.get(started["id"], "calls"))["results"]
    assert call["outcome"] == "auth_failed"
    assert call["error_class"] == "ProviderAuthError"
    assert len(committed.fake.calls) == 1  # nothing more was tried with a rejected key


async def test_list_renders_every_experiment(committed: Committed) -> None:
    team = committed.identity.team.id
    dataset, _ = await make_dataset(committed.api, team, 2)
    first, second = await committed.evaluation(), await committed.evaluation(name="Tone")
    one = await committed.start(dataset=dataset, evaluations=[first])
    two = await committed.start(dataset=dataset, evaluations=[first, second])
    await committed.drain()
    listed = await committed.get(dataset=dataset)
    assert [e["id"] for e in listed["results"]] == [two["id"], one["id"]]
    progress = [e["progress"] for e in listed["results"]]
    assert progress == [
        {"total": 4, "done": 4, "errored": 0},
        {"total": 2, "done": 2, "errored": 0},
    ]
    assert [len(e["results"]) for e in listed["results"]] == [2, 1]
    assert [e["usage"][0]["calls"] for e in listed["results"]] == [4, 2]
