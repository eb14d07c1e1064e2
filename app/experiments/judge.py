"""What the models are asked: the judge's prompt and answer, and the generate step's template."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from app.providers.base import StructuredRequest, Usage

JUDGE_SYSTEM = (
    "You are an evaluator. Judge the output against the criterion you are given, looking only "
    "at the input and the output shown. Answer with one JSON object: "
    '{"verdict": ..., "reasoning": "one or two sentences"}.'
)
GENERATE_SYSTEM = (
    "Answer the user's request. Reply with one JSON object whose `output` field holds your "
    "whole answer as a string."
)
GENERATE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"output": {"type": "string"}},
    "required": ["output"],
    "additionalProperties": False,
}
JUDGE_MAX_TOKENS = 512
MAX_FIELD_CHARS = 20_000
_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][\w.]*)\s*\}\}")


class UnusableVerdict(ValueError):
    """The judge's JSON does not carry an allowed verdict and a reasoning string."""


@dataclass(frozen=True)
class Verdict:
    verdict: str  # pass | fail | na
    reasoning: str


def as_text(value: Any) -> str:
    """An item field as the model sees it: strings as they are, anything else as JSON."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text[:MAX_FIELD_CHARS]


def judge_schema(allows_na: bool) -> dict[str, Any]:
    verdicts = ["pass", "fail", "na"] if allows_na else ["pass", "fail"]
    return {
        "type": "object",
        "properties": {
            "verdict": {"type": "string", "enum": verdicts},
            "reasoning": {"type": "string"},
        },
        "required": ["verdict", "reasoning"],
        "additionalProperties": False,
    }


def judge_prompt(criterion: str, item_input: Any, output: Any, allows_na: bool) -> str:
    choices = (
        '"pass", "fail", or "na" when the criterion does not apply to this output'
        if allows_na
        else '"pass" or "fail"'
    )
    return (
        f"Criterion:\n{criterion}\n\n<input>\n{as_text(item_input)}\n</input>\n\n"
        f"<output>\n{as_text(output)}\n</output>\n\nThe verdict is one of {choices}."
    )


def judge_request(
    model: str, user: str, allows_na: bool, timeout: float, *, retry_note: str | None = None
) -> StructuredRequest:
    if retry_note:
        user = (
            f"{user}\n\nYour previous answer was rejected ({retry_note}). Answer again with "
            "exactly one JSON object that matches the schema."
        )
    return StructuredRequest(
        model=model,
        system=JUDGE_SYSTEM,
        user=user,
        schema=judge_schema(allows_na),
        schema_name="verdict",
        max_output_tokens=JUDGE_MAX_TOKENS,
        timeout=timeout,
        usage=Usage(),
        # No temperature: some models (OpenAI's reasoning ones) refuse any but their default.
    )


def parse_verdict(answer: dict[str, Any], allows_na: bool) -> Verdict:
    verdict = answer.get("verdict")
    if isinstance(verdict, str):
        verdict = verdict.strip().lower().replace("n/a", "na")
    allowed = ("pass", "fail", "na") if allows_na else ("pass", "fail")
    if verdict not in allowed:
        raise UnusableVerdict(f"verdict must be one of {', '.join(allowed)}")
    reasoning = answer.get("reasoning")
    if not isinstance(reasoning, str):
        raise UnusableVerdict("reasoning must be a string")
    return Verdict(str(verdict), reasoning[:4000])


def render_template(template: str, item: dict[str, Any]) -> str:
    """`{{input}}`, `{{output}}`, `{{metadata.x}}` (dotted paths into the item's JSON)."""

    def value(match: re.Match[str]) -> str:
        path = match.group(1).split(".")
        current: Any = item.get(path[0])
        for part in path[1:]:
            current = current.get(part) if isinstance(current, dict) else None
        return "" if current is None else as_text(current)

    return _PLACEHOLDER.sub(value, template)


def generate_request(
    model: str, user: str, temperature: float | None, max_tokens: int, timeout: float
) -> StructuredRequest:
    return StructuredRequest(
        model=model,
        system=GENERATE_SYSTEM,
        user=user,
        schema=GENERATE_SCHEMA,
        schema_name="answer",
        max_output_tokens=max_tokens,
        timeout=timeout,
        usage=Usage(),
        temperature=temperature,
    )


def parse_generated(answer: dict[str, Any]) -> str:
    output = answer.get("output")
    if not isinstance(output, str):
        raise UnusableVerdict("output must be a string")
    return output
