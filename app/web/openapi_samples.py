"""The sample objects the published document shows: one dataset, item, provider key,
evaluation, run, evaluation config and summary, as the API answers them, and the components'
examples built from them. `app.web.openapi_examples` composes requests and responses of them.
"""

from __future__ import annotations

from typing import Any

TEAM = 1
HOST = "http://127.0.0.1:8000"
CREATED = "2026-11-25T14:15:22.000000Z"
UPDATED = "2026-11-26T09:02:11.000000Z"
DATASET_ID = "0193a7c2-5f3e-7d41-9a8e-2b7c1d4e5f60"
ITEM_ID = "0193a7c2-6a10-7b22-8c33-4d5e6f708192"
EVALUATION_ID = "0193a7c3-0b1d-7e42-8f50-1a2b3c4d5e6f"
KEY_ID = "0193a7c1-9e8d-7c6b-8a59-4f3e2d1c0b0a"
EXAMPLE_KEY = "sk-proj-replace-with-your-openai-key-0123"

USER_EXAMPLE = {
    "id": 1,
    "uuid": "095be615-a8ad-4c33-8e9c-c7612fbf6c9f",
    "distinct_id": "d1b8f2c0-3e5f-4b7a-9a65-3f1f0f6f1d2e",
    "first_name": "Ada",
    "last_name": "Lovelace",
    "email": "ada@example.com",
    "is_email_verified": True,
    "hedgehog_config": None,
    "role_at_organization": "engineering",
}

DATASET = {
    "id": DATASET_ID,
    "name": "Support answers",
    "description": "Hard customer questions",
    "metadata": {"owner": "qa"},
    "created_at": CREATED,
    "updated_at": CREATED,
    "deleted": False,
    "created_by": USER_EXAMPLE,
    "team": TEAM,
    "item_count": 42,
}
DATASET_ITEM = {
    "id": ITEM_ID,
    "dataset": DATASET_ID,
    "input": {"question": "How do I reset my password?"},
    "output": {"answer": "Settings → Security → Reset password."},
    "metadata": {"source": "support-inbox"},
    "ref_trace_id": "trace-42",
    "ref_timestamp": CREATED,
    "ref_source_id": None,
    "deleted": False,
    "created_at": CREATED,
    "updated_at": CREATED,
    "created_by": USER_EXAMPLE,
    "team": TEAM,
}
PROVIDER_KEY = {
    "id": KEY_ID,
    "provider": "openai",
    "name": "Production key",
    "state": "ok",
    "error_message": None,
    "api_key_masked": "sk-p...0123",
    "set_as_active": True,
    "created_at": CREATED,
    "created_by": USER_EXAMPLE,
    "last_used_at": CREATED,
    "azure_endpoint_display": None,
    "api_version_display": None,
}
JUDGE_PROMPT = "Does the answer solve the user's problem without inventing facts?"
EVALUATION = {
    "id": EVALUATION_ID,
    "name": "Helpfulness",
    "description": "Does the answer solve the user's problem?",
    "enabled": True,
    "status": "active",
    "status_reason": None,
    "evaluation_type": "llm_judge",
    "evaluation_config": {"prompt": JUDGE_PROMPT},
    "output_type": "boolean",
    "output_config": {"allows_na": True},
    "conditions": [],
    "model_configuration": {
        "provider": "openai",
        "model": "gpt-4.1-mini",
        "provider_key_id": None,
        "provider_key_name": None,
    },
    "created_at": CREATED,
    "updated_at": CREATED,
    "created_by": USER_EXAMPLE,
    "deleted": False,
}
RUNS_IN = [
    {
        "generation_id": "gen_abc123",
        "trace_id": "trace-42",
        "result": True,
        "reasoning": "Clear steps that match the help centre article.",
    },
    {
        "generation_id": "gen_def456",
        "trace_id": "trace-43",
        "result": False,
        "reasoning": "States a 60-day refund window; the policy says 30 days.",
    },
    {
        "generation_id": "gen_ghi789",
        "trace_id": "trace-44",
        "result": True,
        "reasoning": "The answer is organised in short, clear steps.",
    },
]
RUN = {
    "id": "0193a7c4-1c2d-7e3f-8a4b-5c6d7e8f9a0b",
    "generation_id": "gen_def456",
    "trace_id": "trace-43",
    "result": False,
    "applicable": None,
    "reasoning": "States a 60-day refund window; the policy says 30 days.",
    "timestamp": CREATED,
    "verdict": "fail",
    "created_at": CREATED,
}
EVALUATION_CONFIG = {
    "trial_eval_limit": 100,
    "trial_evals_used": 3,
    "trial_evals_remaining": 97,
    "active_provider_key": PROVIDER_KEY,
    "created_at": CREATED,
    "updated_at": UPDATED,
}
SUMMARY = {  # the seed's example
    "overall_assessment": (
        "Evaluations show generally good quality with some factual accuracy issues."
    ),
    "pass_patterns": [
        {
            "title": "Clear Communication",
            "description": "Responses consistently provided well-structured information",
            "frequency": "common",
            "example_reasoning": "The answer is organised in short, clear steps.",
            "example_generation_ids": ["gen_abc123", "gen_ghi789"],
        }
    ],
    "fail_patterns": [
        {
            "title": "Factual Errors",
            "description": "Some responses contained inaccurate information",
            "frequency": "occasional",
            "example_reasoning": "The refund window stated is wrong.",
            "example_generation_ids": ["gen_def456"],
        }
    ],
    "na_patterns": [],
    "recommendations": [
        "Implement fact-checking for critical claims",
        "Add source citations where applicable",
    ],
    "statistics": {"total_analyzed": 3, "pass_count": 2, "fail_count": 1, "na_count": 0},
}

# JSON-schema examples of the components (shown under "Schemas").
COMPONENT_EXAMPLES: dict[str, dict[str, Any]] = {
    "DatasetRead": DATASET,
    "DatasetItemRead": DATASET_ITEM,
    "ProviderKeyRead": PROVIDER_KEY,
    "EvaluationRead": EVALUATION,
    "SummaryResponse": SUMMARY,
    "ErrorBody": {
        "type": "validation_error",
        "code": "required",
        "detail": "This field is required.",
        "attr": "name",
    },
}
