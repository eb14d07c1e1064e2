"""Example requests and responses for every operation of the published document (Swagger UI
pre-fills "Try it out" with the request examples).

The sample objects themselves live in `app.web.openapi_samples`. A request example must
succeed as sent, except for ids that cannot be known in advance: those fields are listed in the
example's `x-replace` (field → where to find a real id), and its description says so. Keyed by
operation id; `tests/test_openapi.py` checks each example against its schema and sends the
create examples to a live app.
"""

from __future__ import annotations

from typing import Any

from app.web.openapi_samples import (
    DATASET,
    DATASET_ID,
    DATASET_ITEM,
    EVALUATION,
    EVALUATION_CONFIG,
    EVALUATION_ID,
    EXAMPLE_KEY,
    HOST,
    JUDGE_PROMPT,
    KEY_ID,
    PROVIDER_KEY,
    RUN,
    RUNS_IN,
    SUMMARY,
    TEAM,
    UPDATED,
)


def _page(path: str, result: dict[str, Any], count: int = 1) -> dict[str, Any]:
    url = f"{HOST}/api/environments/{TEAM}/{path}"
    return {
        "count": count,
        "next": f"{url}?limit=100&offset=100" if count > 100 else None,
        "previous": None,
        "results": [result],
    }


def _request(
    summary: str, value: dict[str, Any], replace: dict[str, str] | None = None, note: str = ""
) -> dict[str, Any]:
    example: dict[str, Any] = {"summary": summary, "value": value}
    if replace:
        fields = ", ".join(f"`{field}` with {where}" for field, where in replace.items())
        example["description"] = f"Replace {fields}. {note}".strip()
        example["x-replace"] = replace
    elif note:
        example["description"] = note
    return example


REQUEST_EXAMPLES: dict[str, dict[str, Any]] = {
    "create_dataset": _request(
        "A dataset",
        {"name": "Support answers", "description": "Hard customer questions", "metadata": {}},
    ),
    "update_dataset": _request(
        "Rename and describe", {"description": "Hard customer questions, reviewed weekly"}
    ),
    "create_dataset_item": _request(
        "An item of one of your datasets",
        {
            "dataset": DATASET_ID,
            "input": {"question": "How do I reset my password?"},
            "output": {"answer": "Settings → Security → Reset password."},
            "metadata": {"source": "support-inbox"},
            "ref_trace_id": "trace-42",
        },
        {"dataset": "the `id` of one of your datasets (Create dataset answers it)"},
    ),
    "update_dataset_item": _request(
        "Correct the expected output",
        {"output": {"answer": "Settings → Security → Reset password, then sign in again."}},
    ),
    "create_evaluation": _request(
        "An LLM judge",
        {
            "name": "Helpfulness",
            "description": "Does the answer solve the user's problem?",
            "enabled": True,
            "evaluation_type": "llm_judge",
            "evaluation_config": {"prompt": JUDGE_PROMPT},
            "output_type": "boolean",
            "output_config": {"allows_na": True},
            "model_configuration": {"provider": "openai", "model": "gpt-4.1-mini"},
        },
        note="`model_configuration.provider_key_id` may name one of your provider keys.",
    ),
    "update_evaluation": _request("Pause it", {"enabled": False}),
    "create_evaluation_runs": _request(
        "Two passes and a fail",
        {"runs": RUNS_IN},
        note="Use the evaluation's id in the path. `result: null` (or `applicable: false`) "
        "records an N/A run when the evaluation's `output_config.allows_na` is true.",
    ),
    "create_provider_key": _request(
        "An OpenAI key, made the team's active key",
        {
            "provider": "openai",
            "name": "Production key",
            "api_key": EXAMPLE_KEY,
            "set_as_active": True,
        },
        note="Put your own key in `api_key`: it is validated live with the provider, and "
        "nothing is stored when the provider refuses it.",
    ),
    "update_provider_key": _request("Rename", {"name": "Production key (2026)"}),
    "create_provider_key_validation": _request(
        "Check an OpenAI key",
        {"provider": "openai", "api_key": EXAMPLE_KEY},
        note="Put your own key in `api_key`; nothing is stored.",
    ),
    "set_active_key": _request(
        "Activate a key",
        {"key_id": KEY_ID},
        {"key_id": "the `id` of one of your provider keys in state `ok` (Create provider key)"},
    ),
    "create_evaluation_summary": _request(
        "Summarise every run",
        {"evaluation_id": EVALUATION_ID, "filter": "all", "force_refresh": False},
        {"evaluation_id": "the `id` of one of your evaluations that has runs"},
    ),
}

RESPONSE_EXAMPLES: dict[str, Any] = {
    "healthz": {"status": "ok"},
    "readyz": {"status": "ok"},
    "metrics": (
        "# HELP http_requests_total HTTP requests by method, route template and status.\n"
        "# TYPE http_requests_total counter\n"
        'http_requests_total{method="GET",route="/readyz",status="200"} 42.0\n'
        "# HELP llm_provider_calls_total Outbound LLM provider calls by provider and outcome.\n"
        "# TYPE llm_provider_calls_total counter\n"
        'llm_provider_calls_total{outcome="ok",provider="openai"} 7.0\n'
    ),
    "list_datasets": _page("datasets/", DATASET),
    "create_dataset": DATASET,
    "retrieve_dataset": DATASET,
    "update_dataset": {
        **DATASET,
        "description": "Hard customer questions, reviewed weekly",
        "updated_at": UPDATED,
    },
    "list_dataset_items": _page("dataset_items/", DATASET_ITEM, count=250),
    "create_dataset_item": DATASET_ITEM,
    "retrieve_dataset_item": DATASET_ITEM,
    "update_dataset_item": {
        **DATASET_ITEM,
        "output": {"answer": "Settings → Security → Reset password, then sign in again."},
        "updated_at": UPDATED,
    },
    "list_evaluations": _page("evaluations/", EVALUATION),
    "create_evaluation": EVALUATION,
    "retrieve_evaluation": EVALUATION,
    "update_evaluation": {
        **EVALUATION,
        "enabled": False,
        "status": "paused",
        "updated_at": UPDATED,
    },
    "create_evaluation_runs": {"created": 3, "duplicates": 0, "conflicts": 0, "conflict_ids": []},
    "list_evaluation_runs": _page(f"evaluations/{EVALUATION_ID}/runs/", RUN),
    "list_provider_keys": _page("llm_analytics/provider_keys/", PROVIDER_KEY),
    "create_provider_key": PROVIDER_KEY,
    "retrieve_provider_key": PROVIDER_KEY,
    "update_provider_key": {**PROVIDER_KEY, "name": "Production key (2026)"},
    "validate_provider_key": {**PROVIDER_KEY, "last_used_at": UPDATED},
    "create_provider_key_validation": {"state": "ok", "error_message": None},
    "list_llm_models": {
        "models": [
            {"id": "gpt-4.1", "posthog_available": False},
            {"id": "gpt-4.1-mini", "posthog_available": False},
            {"id": "ft:gpt-4.1-mini:acme::a1b2c3", "posthog_available": False},
        ]
    },
    "retrieve_evaluation_config": EVALUATION_CONFIG,
    "set_active_key": EVALUATION_CONFIG,
    "create_evaluation_summary": SUMMARY,
}
