"""Wire models of experiments: create bodies, the experiment, its results, calls, comparison,
and their renderers (an experiment, a result or a ledger row → its response body)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Literal

from pydantic import Field, field_validator

from app.auth.users import UserBasic, render_user, user_row
from app.models import DatasetItem, Evaluation, Experiment, ExperimentCall, ExperimentResult
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


# --- renderers -------------------------------------------------------------------------------


def experiment_read(
    experiment: Experiment,
    counts: dict[tuple[uuid.UUID, uuid.UUID], dict[str, int]],
    usage: list[dict[str, Any]],
    names: dict[uuid.UUID, str],
) -> dict[str, Any]:
    """An experiment with its per-evaluation tallies (`counts` by (experiment, evaluation))."""
    tallies = []
    done = errored = 0
    for evaluation_id in experiment.evaluation_ids:
        tally = counts[(experiment.id, evaluation_id)]
        done += sum(tally.values())
        errored += tally["error"]
        judged = tally["pass"] + tally["fail"]
        tallies.append(
            {
                "evaluation_id": evaluation_id,
                "name": names.get(evaluation_id),
                "pass": tally["pass"],
                "fail": tally["fail"],
                "na": tally["na"],
                "error": tally["error"],
                "pass_rate": tally["pass"] / judged if judged else None,
            }
        )
    return {
        "id": experiment.id,
        "name": experiment.name,
        "dataset": experiment.dataset_id,
        "evaluations": experiment.evaluation_ids,
        "metadata": experiment.metadata_,
        "generate": experiment.generate,
        "status": experiment.status,
        "status_reason": experiment.status_reason,
        "progress": {"total": experiment.total_pairs, "done": done, "errored": errored},
        "results": tallies,
        "usage": usage,
        "created_at": experiment.created_at,
        "started_at": experiment.started_at,
        "finished_at": experiment.finished_at,
        "created_by": render_user(user_row(experiment.created_by)),
        "team": experiment.team_id,
    }


def result_read(row: ExperimentResult) -> dict[str, Any]:
    return {
        "id": row.id,
        "dataset_item": row.dataset_item_id,
        "evaluation": row.evaluation_id,
        "generated_output": row.generated_output,
        "verdict": row.verdict,
        "reasoning": row.reasoning,
        "error": row.error,
        "latency_ms": row.latency_ms,
        "input_tokens": row.input_tokens,
        "output_tokens": row.output_tokens,
        "created_at": row.created_at,
    }


def call_read(row: ExperimentCall) -> dict[str, Any]:
    """A ledger row: its own columns (never the key itself), item and evaluation by id."""
    columns = [column for column in CallRead.model_fields if hasattr(row, column)]
    return {
        **{column: getattr(row, column) for column in columns},
        "dataset_item": row.dataset_item_id,
        "evaluation": row.evaluation_id,
    }


def regressed_read(row: Any) -> dict[str, Any]:
    """A (dataset item, evaluation, base reasoning, head reasoning) row that went pass→fail."""
    item, evaluation, base_reasoning, head_reasoning = row
    return {
        "dataset_item": item,
        "evaluation": evaluation,
        "base_reasoning": base_reasoning,
        "head_reasoning": head_reasoning,
    }


def comparison_read(
    base: uuid.UUID,
    head: uuid.UUID,
    evaluations: list[dict[str, Any]],
    regressed_items: dict[str, Any],
) -> dict[str, Any]:
    return {
        "base": base,
        "head": head,
        "evaluations": evaluations,
        "regressed_items": regressed_items,
    }


def evaluation_run_started(
    experiment: Experiment, evaluation: Evaluation, item: DatasetItem
) -> dict[str, Any]:
    return {
        "workflow_id": str(experiment.id),
        "status": "started",
        "evaluation": {"id": evaluation.id, "name": evaluation.name},
        "target_event_id": item.id,
    }
