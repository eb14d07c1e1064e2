"""Request and response bodies of evaluations and runs, shaped like PostHog's evaluation object,
and their renderers (an evaluation or a run → its response body)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints, field_validator

from app.auth.users import UserBasic
from app.evaluations.rules import Verdict, evaluation_status, run_timestamp, verdict_of
from app.models import Evaluation, EvaluationRun
from app.providers.names import resolve_alias
from app.settings import LLMProviderName
from app.web.errors import APIErrorCarrier
from app.web.schemas import APIModel, Timestamp

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=400)]
ProviderField = Annotated[LLMProviderName, Field(description="LLM provider (`google` = `gemini`).")]
MAX_RUNS_PER_BATCH = 1000


def _not_null(value: Any) -> Any:
    if value is None:
        raise APIErrorCarrier("This field may not be null.", code="null")
    return value


class JudgeConfig(APIModel):
    """`evaluation_config` of an `llm_judge` evaluation."""

    prompt: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


class OutputConfig(APIModel):
    """`output_config` of a `boolean` evaluation."""

    allows_na: bool = False


class ModelConfigurationIn(APIModel):
    provider: ProviderField
    model: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
    provider_key_id: uuid.UUID | None = None

    @field_validator("provider", mode="before")
    @classmethod
    def _google_is_gemini(cls, value: Any) -> Any:
        return resolve_alias(value)


class ModelConfigurationOut(APIModel):
    provider: str
    model: str
    provider_key_id: uuid.UUID | None
    provider_key_name: str | None


class _EvaluationFields(APIModel):
    @field_validator("description", mode="before", check_fields=False)
    @classmethod
    def _null_description_is_empty(cls, value: Any) -> Any:
        return "" if value is None else value

    @field_validator("evaluation_type", mode="before", check_fields=False)
    @classmethod
    def _judge_only(cls, value: Any) -> Any:
        if value == "hog":
            raise APIErrorCarrier(
                "Evaluation type 'hog' is not supported; only 'llm_judge' evaluations are.",
                code="not_supported",
            )
        return value


class EvaluationCreate(_EvaluationFields):
    name: Name
    description: str = ""
    enabled: bool = True
    evaluation_type: Literal["llm_judge"] = "llm_judge"
    evaluation_config: JudgeConfig
    output_type: Literal["boolean"] = "boolean"
    output_config: OutputConfig = Field(default_factory=OutputConfig)
    conditions: Any = Field(default_factory=list)
    model_configuration: ModelConfigurationIn | None = None
    deleted: bool = False

    _refuse_null = field_validator("conditions")(_not_null)


class EvaluationUpdate(_EvaluationFields):
    """PATCH body: only the fields sent are applied; `null` is refused where a value is needed."""

    name: Name | None = None
    description: str | None = None
    enabled: bool | None = None
    evaluation_type: Literal["llm_judge"] | None = None
    evaluation_config: JudgeConfig | None = None
    output_type: Literal["boolean"] | None = None
    output_config: OutputConfig | None = None
    conditions: Any = None
    model_configuration: ModelConfigurationIn | None = None
    deleted: bool | None = None

    _refuse_null = field_validator(
        "name",
        "conditions",
        "enabled",
        "evaluation_type",
        "evaluation_config",
        "output_type",
        "output_config",
        "deleted",
    )(_not_null)


class EvaluationRead(APIModel):
    id: uuid.UUID
    name: str
    description: str
    enabled: bool
    status: Literal["active", "paused", "error"]
    status_reason: Literal["provider_key_deleted"] | None
    evaluation_type: str
    evaluation_config: dict[str, Any]
    output_type: str
    output_config: dict[str, Any]
    conditions: Any
    model_configuration: ModelConfigurationOut | None
    created_at: Timestamp
    updated_at: Timestamp
    created_by: UserBasic | None
    deleted: bool


# --- runs ------------------------------------------------------------------------------------


class RunIn(APIModel):
    id: uuid.UUID | None = Field(
        default=None,
        description="Client-chosen id, unique within the evaluation; re-sending the same run "
        "is reported as a duplicate, other content under a stored id as a conflict.",
    )
    generation_id: Annotated[str, StringConstraints(min_length=1, max_length=400)]
    trace_id: Annotated[str, StringConstraints(max_length=400)] | None = None
    result: bool | None = Field(description="true = pass, false = fail, null = N/A.")
    applicable: bool | None = Field(default=None, description="false marks the run N/A.")
    reasoning: str
    timestamp: dt.datetime | None = Field(default=None, description="Defaults to ingestion time.")

    _utc = field_validator("timestamp")(run_timestamp)


class RunBatch(APIModel):
    runs: list[RunIn] = Field(description=f"1 to {MAX_RUNS_PER_BATCH} runs, stored all or nothing.")

    @field_validator("runs", mode="before")
    @classmethod
    def _batch_size(cls, value: Any) -> Any:
        # Checked before the runs themselves: a 1001-run batch is refused without parsing it.
        if isinstance(value, list) and not value:
            raise APIErrorCarrier("This list may not be empty.", code="empty")
        if isinstance(value, list) and len(value) > MAX_RUNS_PER_BATCH:
            raise APIErrorCarrier(
                f"Ensure this field has no more than {MAX_RUNS_PER_BATCH} elements.",
                code="max_length",
            )
        return value


class RunBatchResult(APIModel):
    created: int = Field(description="Runs stored by this request.")
    duplicates: int = Field(description="Runs already stored with this id and the same content.")
    conflicts: int = Field(
        description="Runs whose id is already stored in this evaluation with other content: "
        "not stored (the stored run stays), listed in `conflict_ids`."
    )
    conflict_ids: list[uuid.UUID] = Field(description="The ids of the conflicting runs.")


class RunRead(APIModel):
    id: uuid.UUID
    generation_id: str
    trace_id: str | None
    result: bool | None
    applicable: bool | None
    reasoning: str
    timestamp: Timestamp
    verdict: Verdict
    created_at: Timestamp


def evaluation_read(evaluation: Evaluation, key_name: str | None) -> EvaluationRead:
    status, reason = evaluation_status(
        evaluation.model_configuration, evaluation.model_provider_key_id, evaluation.enabled
    )
    configuration = evaluation.model_configuration
    return EvaluationRead.model_validate(
        {
            "id": evaluation.id,
            "name": evaluation.name,
            "description": evaluation.description,
            "enabled": evaluation.enabled,
            "status": status,
            "status_reason": reason,
            "evaluation_type": evaluation.evaluation_type,
            "evaluation_config": evaluation.evaluation_config,
            "output_type": evaluation.output_type,
            "output_config": evaluation.output_config,
            "conditions": evaluation.conditions,
            "model_configuration": None
            if configuration is None
            else {
                "provider": configuration.get("provider"),
                "model": configuration.get("model"),
                "provider_key_id": evaluation.model_provider_key_id,
                "provider_key_name": key_name,
            },
            "created_at": evaluation.created_at,
            "updated_at": evaluation.updated_at,
            "created_by": evaluation.created_by,
            "deleted": evaluation.deleted,
        }
    )


def run_read(run: EvaluationRun) -> RunRead:
    return RunRead(
        id=run.id,
        generation_id=run.generation_id,
        trace_id=run.trace_id,
        result=run.result,
        applicable=run.applicable,
        reasoning=run.reasoning,
        timestamp=run.timestamp,
        verdict=verdict_of(run.result, run.applicable),
        created_at=run.created_at,
    )
