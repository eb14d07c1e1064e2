"""The JSON schema the model fills, checking its answer, and turning it into our response.

The model is trusted for prose only: statistics are counted from the runs, cited generation
ids must be analysed runs of the pattern's own category, and categories the request did not
ask about (or that have no runs) come back empty.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, StrictStr, ValidationError, field_validator

from app.evaluations.rules import RunFilter, verdict_of
from app.models import EvaluationRun
from app.summary.schemas import Frequency

MAX_PATTERNS = 4
MAX_RECOMMENDATIONS = 4
MAX_EXAMPLES = 3
CATEGORIES = ("pass", "fail", "na")


def _string(description: str) -> dict[str, Any]:
    return {"type": "string", "description": description}


PATTERN_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "title": _string("Short name of the pattern, 3 to 6 words."),
        "description": _string("What the runs in this pattern have in common, 1 to 3 sentences."),
        "frequency": {
            "type": "string",
            "enum": ["common", "occasional", "rare"],
            "description": "In its category: common = most runs, occasional = several, rare = few",
        },
        "example_reasoning": _string("A short quote from one run's reasoning showing the pattern."),
        "example_generation_ids": {
            "type": "array",
            "items": {"type": "string"},
            "description": "1 to 3 generation_id values, copied exactly, of runs in the pattern.",
        },
    },
    "required": [
        "title",
        "description",
        "frequency",
        "example_reasoning",
        "example_generation_ids",
    ],
    "additionalProperties": False,
}


def _patterns(label: str) -> dict[str, Any]:
    return {
        "type": "array",
        "items": PATTERN_SCHEMA,
        "description": f"0 to {MAX_PATTERNS} patterns among {label} runs; [] when none.",
    }


# No statistics here: we count them ourselves (SPEC §5.8).
SUMMARY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "overall_assessment": _string("1 to 2 sentences on quality and the main findings."),
        "pass_patterns": _patterns("PASS"),
        "fail_patterns": _patterns("FAIL"),
        "na_patterns": _patterns("N/A"),
        "recommendations": {
            "type": "array",
            "items": {"type": "string"},
            "description": "2 to 4 specific, actionable recommendations.",
        },
    },
    "required": [
        "overall_assessment",
        "pass_patterns",
        "fail_patterns",
        "na_patterns",
        "recommendations",
    ],
    "additionalProperties": False,
}


class _ModelPattern(BaseModel):
    model_config = ConfigDict(extra="ignore")

    title: StrictStr
    description: StrictStr
    frequency: Frequency
    example_reasoning: StrictStr
    example_generation_ids: list[StrictStr]

    @field_validator("frequency", mode="before")
    @classmethod
    def _lowercase(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value


class ModelAnswer(BaseModel):
    """What the model must return; anything missing or mistyped makes the answer unusable."""

    model_config = ConfigDict(extra="ignore")

    overall_assessment: StrictStr
    pass_patterns: list[_ModelPattern]
    fail_patterns: list[_ModelPattern]
    na_patterns: list[_ModelPattern]
    recommendations: list[StrictStr]


class UnusableAnswer(Exception):
    """The model's JSON does not fit the schema; `reason` is safe to show the model on retry."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def parse_answer(raw: dict[str, Any]) -> ModelAnswer:
    try:
        return ModelAnswer.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "answer"
        raise UnusableAnswer(f"{where}: {first['msg']}") from None


def statistics(runs: Sequence[EvaluationRun]) -> dict[str, int]:
    counts = dict.fromkeys(CATEGORIES, 0)
    for run in runs:
        counts[verdict_of(run.result, run.applicable)] += 1
    return {
        "total_analyzed": len(runs),
        "pass_count": counts["pass"],
        "fail_count": counts["fail"],
        "na_count": counts["na"],
    }


def shape_summary(
    answer: ModelAnswer, runs: Sequence[EvaluationRun], run_filter: RunFilter
) -> dict[str, Any]:
    """The response: the model's prose, our numbers, and only citations we can vouch for."""
    ids_by_category: dict[str, set[str]] = {category: set() for category in CATEGORIES}
    for run in runs:
        ids_by_category[verdict_of(run.result, run.applicable)].add(run.generation_id)

    def patterns(category: str, found: list[_ModelPattern]) -> list[dict[str, Any]]:
        if run_filter not in ("all", category) or not ids_by_category[category]:
            return []
        shaped = []
        for pattern in found[:MAX_PATTERNS]:
            cited = [gid.strip() for gid in pattern.example_generation_ids]
            known = [gid for gid in dict.fromkeys(cited) if gid in ids_by_category[category]]
            shaped.append(
                {
                    "title": pattern.title.strip(),
                    "description": pattern.description.strip(),
                    "frequency": pattern.frequency,
                    "example_reasoning": pattern.example_reasoning.strip(),
                    "example_generation_ids": known[:MAX_EXAMPLES],
                }
            )
        return shaped

    recommendations = [text.strip() for text in answer.recommendations if text.strip()]
    return {
        "overall_assessment": answer.overall_assessment.strip(),
        "pass_patterns": patterns("pass", answer.pass_patterns),
        "fail_patterns": patterns("fail", answer.fail_patterns),
        "na_patterns": patterns("na", answer.na_patterns),
        "recommendations": recommendations[:MAX_RECOMMENDATIONS],
        "statistics": statistics(runs),
    }
