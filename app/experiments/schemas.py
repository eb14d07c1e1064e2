"""Wire models of experiments: create bodies, the experiment, its results, calls, comparison."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Literal

from pydantic import Field, field_validator

from app.auth.users import UserBasic
from app.web.schemas import APIModel, Timestamp

Status = Literal["queued", "running", "succeeded", "failed", "cancelled"]
VerdictName = Literal["pass", "fail", "na", "error"]
MAX_EVALUATIONS = 10


class GenerateIn(APIModel):
    provider_key_id: uuid.UUID | None = Field(
        default=None, description="A key of the team; null: the active key, else the default."
    )
    model: str = Field(min_length=1, max_length=200)
    prompt: str = Field(
        min_length=1,
        description="Template over the item: `{{input}}`, `{{output}}`, `{{metadata.x}}`.",
    )
    temperature: float | None = Field(default=None, ge=0, le=2)
    max_tokens: int = Field(default=1024, ge=1, le=32_000)


class ExperimentCreate(APIModel):
    dataset: uuid.UUID = Field(description="A live dataset of the team, with at least one item.")
    evaluations: list[uuid.UUID] = Field(
        description=f"1 to {MAX_EVALUATIONS} `llm_judge` evaluations of the team."
    )
    name: str | None = Field(default=None, max_length=400)
    metadata: Any = None
    generate: GenerateIn | None = None

    @field_validator("evaluations")
    @classmethod
    def _count(cls, value: list[uuid.UUID]) -> list[uuid.UUID]:
        if not value:
            raise ValueError("Give at least one evaluation.")
        if len(value) > MAX_EVALUATIONS:
            raise ValueError(f"Give at most {MAX_EVALUATIONS} evaluations.")
        return list(dict.fromkeys(value))


class Progress(APIModel):
    total: int
    done: int
    errored: int


class EvaluationTally(APIModel):
    evaluation_id: uuid.UUID
    name: str | None
    pass_: int = Field(serialization_alias="pass", validation_alias="pass")
    fail: int
    na: int
    error: int
    pass_rate: float | None = Field(description="pass / (pass + fail); null before any.")


class ProviderUsage(APIModel):
    provider: str
    calls: int
    input_tokens: int
    output_tokens: int


class ExperimentRead(APIModel):
    id: uuid.UUID
    name: str
    dataset: uuid.UUID
    evaluations: list[uuid.UUID]
    metadata: Any
    generate: dict[str, Any] | None
    status: Status
    status_reason: str | None
    progress: Progress
    results: list[EvaluationTally] = Field(default_factory=list)
    usage: list[ProviderUsage] = Field(default_factory=list)
    created_at: Timestamp
    started_at: Timestamp | None
    finished_at: Timestamp | None
    created_by: UserBasic | None
    team: int


class ResultRead(APIModel):
    id: uuid.UUID
    dataset_item: uuid.UUID
    evaluation: uuid.UUID
    generated_output: Any
    verdict: VerdictName
    reasoning: str
    error: str | None
    latency_ms: int | None
    input_tokens: int | None
    output_tokens: int | None
    created_at: Timestamp


class CallRead(APIModel):
    id: uuid.UUID
    dataset_item: uuid.UUID | None
    evaluation: uuid.UUID | None
    purpose: str
    provider: str
    model: str
    provider_key_id: uuid.UUID | None
    key_source: str
    prompt_sha256: str
    attempt: int
    latency_ms: int
    input_tokens: int | None
    output_tokens: int | None
    outcome: str
    error_class: str | None
    error_message: str | None
    created_at: Timestamp


class EvaluationComparison(APIModel):
    evaluation_id: uuid.UUID
    name: str | None
    base_pass_rate: float | None
    base_ci95: tuple[float, float] | None
    base_judged: int
    head_pass_rate: float | None
    head_ci95: tuple[float, float] | None
    head_judged: int
    paired: int = Field(description="Items judged pass/fail in both experiments.")
    paired_difference: float | None = Field(description="Head minus base pass rate, paired.")
    regressed: int
    improved: int
    stayed: int
    p_value: float = Field(description="McNemar's exact test on the discordant pairs.")


class Comparison(APIModel):
    base: uuid.UUID
    head: uuid.UUID
    evaluations: list[EvaluationComparison]
    regressed_items: dict[str, Any] = Field(
        description="Paged `{count, next, previous, results}` of (item, evaluation) pass→fail."
    )


class EvaluationRunStart(APIModel):
    """PostHog's body; here `target_event_id` is a dataset item id of the team."""

    evaluation_id: uuid.UUID
    target_event_id: uuid.UUID
    timestamp: dt.datetime
    event: str | None = "$ai_generation"
    distinct_id: str | None = None


class EvaluationRef(APIModel):
    id: uuid.UUID
    name: str


class EvaluationRunStarted(APIModel):
    workflow_id: str
    status: Literal["started"]
    evaluation: EvaluationRef
    target_event_id: uuid.UUID
