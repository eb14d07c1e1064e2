"""Swagger UI examples for the experiment routes, given to each route as `openapi_extra` (the
published document's other examples live in app/web/openapi_examples.py)."""

from __future__ import annotations

from typing import Any

from app.web.openapi_samples import (
    CREATED,
    DATASET_ID,
    EVALUATION_ID,
    ITEM_ID,
    KEY_ID,
    TEAM,
    USER_EXAMPLE,
)

EXPERIMENT_ID = "0193a7d0-1c2d-7e3f-8a4b-5c6d7e8f9a0b"
HEAD_ID = "0193a7d1-2d3e-7f40-9b5c-6d7e8f9a0b1c"
FINISHED = "2026-11-25T14:17:02.000000Z"

EXPERIMENT = {
    "id": EXPERIMENT_ID,
    "name": "Support answers, gpt-4.1-mini",
    "dataset": DATASET_ID,
    "evaluations": [EVALUATION_ID],
    "metadata": {"prompt_version": 3},
    "generate": None,
    "status": "succeeded",
    "status_reason": None,
    "progress": {"total": 120, "done": 120, "errored": 0},
    "results": [
        {
            "evaluation_id": EVALUATION_ID,
            "name": "Helpfulness",
            "pass": 101,
            "fail": 17,
            "na": 2,
            "error": 0,
            "pass_rate": 0.8559,
        }
    ],
    "usage": [{"provider": "openai", "calls": 120, "input_tokens": 61234, "output_tokens": 9120}],
    "created_at": CREATED,
    "started_at": CREATED,
    "finished_at": FINISHED,
    "created_by": USER_EXAMPLE,
    "team": TEAM,
}
RESULT = {
    "id": "0193a7d0-3e4f-7a50-8b6c-7d8e9f0a1b2c",
    "dataset_item": ITEM_ID,
    "evaluation": EVALUATION_ID,
    "generated_output": None,
    "verdict": "pass",
    "reasoning": "Points to the right settings page and invents nothing.",
    "error": None,
    "latency_ms": 812,
    "input_tokens": 512,
    "output_tokens": 64,
    "created_at": FINISHED,
}
CALL = {
    "id": "0193a7d0-4f50-7b61-8c7d-8e9f0a1b2c3d",
    "dataset_item": ITEM_ID,
    "evaluation": EVALUATION_ID,
    "purpose": "judge",
    "provider": "openai",
    "model": "gpt-4.1-mini",
    "provider_key_id": KEY_ID,
    "key_source": "team",
    "prompt_sha256": "9f2c1a7be0d44c1f8a3e5b6d7c8e9f0a1b2c3d4e5f60718293a4b5c6d7e8f901",
    "attempt": 1,
    "latency_ms": 812,
    "input_tokens": 512,
    "output_tokens": 64,
    "outcome": "ok",
    "error_class": None,
    "error_message": None,
    "created_at": FINISHED,
}
COMPARISON = {
    "base": EXPERIMENT_ID,
    "head": HEAD_ID,
    "evaluations": [
        {
            "evaluation_id": EVALUATION_ID,
            "name": "Helpfulness",
            "base_pass_rate": 0.8559,
            "base_ci95": [0.7803, 0.9085],
            "base_judged": 118,
            "head_pass_rate": 0.7881,
            "head_ci95": [0.7057, 0.8523],
            "head_judged": 118,
            "paired": 118,
            "paired_difference": -0.0678,
            "regressed": 10,
            "improved": 2,
            "stayed": 106,
            "p_value": 0.0386,
        }
    ],
    "regressed_items": {
        "count": 10,
        "next": None,
        "previous": None,
        "results": [{"dataset_item": ITEM_ID, "evaluation": EVALUATION_ID}],
    },
}


def _page(result: dict[str, Any]) -> dict[str, Any]:
    return {"count": 1, "next": None, "previous": None, "results": [result]}


def _request(summary: str, value: dict[str, Any], replace: tuple[str, ...]) -> dict[str, Any]:
    """A request example whose ids (`replace`) must be swapped for the caller's own."""
    where = "the id of one of yours"
    fields = ", ".join(f"`{field}` with {where}" for field in replace)
    return {
        "summary": summary,
        "value": value,
        "description": f"Replace {fields}.",
        "x-replace": dict.fromkeys(replace, where),
    }


# Keyed by operation id, as app/web/openapi.py wants them (app/main.py passes them on).
REQUESTS: dict[str, dict[str, Any]] = {
    "create_experiment": _request(
        "Judge a dataset's stored outputs",
        {
            "dataset": DATASET_ID,
            "evaluations": [EVALUATION_ID],
            "name": "Support answers, gpt-4.1-mini",
            "metadata": {"prompt_version": 3},
        },
        ("dataset", "evaluations"),
    ),
    "create_evaluation_run": _request(
        "Judge one dataset item",
        {"evaluation_id": EVALUATION_ID, "target_event_id": ITEM_ID, "timestamp": CREATED},
        ("evaluation_id", "target_event_id"),
    ),
}
RESPONSES: dict[str, Any] = {
    "create_experiment": {
        **EXPERIMENT,
        "status": "queued",
        "started_at": None,
        "finished_at": None,
    },
    "list_experiments": _page(EXPERIMENT),
    "retrieve_experiment": EXPERIMENT,
    "cancel_experiment": {**EXPERIMENT, "status": "cancelled"},
    "list_experiment_results": _page(RESULT),
    "list_experiment_calls": _page(CALL),
    "compare_experiments": COMPARISON,
    "create_evaluation_run": {
        "workflow_id": EXPERIMENT_ID,
        "status": "started",
        "evaluation": {"id": EVALUATION_ID, "name": "Helpfulness"},
        "target_event_id": ITEM_ID,
    },
}
