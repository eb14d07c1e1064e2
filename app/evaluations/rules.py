"""Pure rules of evaluations and runs (SPEC §5.7): verdicts, the run filter, N/A acceptance,
status, run timestamps and what makes a re-sent run a duplicate."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any, Literal, Protocol, get_args

from app.models import EvaluationRun
from app.web.errors import APIErrorCarrier, ValidationFailed

Verdict = Literal["pass", "fail", "na"]
# The one run filter vocabulary: the runs listing and the summary both take it.
RunFilter = Literal["all", "pass", "fail", "na"]
_FILTERS = get_args(RunFilter)
RUN_FILTER_CHOICES = f"{', '.join(_FILTERS[:-1])} or {_FILTERS[-1]}"  # "all, pass, fail or na"


class SentRun(Protocol):
    """A run as sent (`RunIn`)."""

    @property
    def generation_id(self) -> str: ...
    @property
    def trace_id(self) -> str | None: ...
    @property
    def result(self) -> bool | None: ...
    @property
    def applicable(self) -> bool | None: ...
    @property
    def reasoning(self) -> str: ...
    @property
    def timestamp(self) -> dt.datetime | None: ...


def verdict_of(result: bool | None, applicable: bool | None) -> Verdict:
    """N/A when not applicable or no result; otherwise the result decides."""
    if applicable is False or result is None:
        return "na"
    return "pass" if result else "fail"


def check_na_allowed(output_config: dict[str, Any] | None, runs: Sequence[SentRun]) -> None:
    """Refuse the batch when it holds an N/A run and the evaluation does not allow N/A.

    `attr` names the field that made the first such
    run N/A (`runs.3.applicable` or `runs.3.result`).
    """
    if (output_config or {}).get("allows_na", False):
        return
    for index, run in enumerate(runs):
        if verdict_of(run.result, run.applicable) == "na":
            field = "applicable" if run.applicable is False else "result"
            raise ValidationFailed(
                "This evaluation does not allow N/A results "
                "(its output_config.allows_na is false).",
                code="invalid",
                attr=f"runs.{index}.{field}",
            )


def evaluation_status(
    model_configuration: dict[str, Any] | None, key_id: uuid.UUID | None, enabled: bool
) -> tuple[Literal["active", "paused", "error"], Literal["provider_key_deleted"] | None]:
    """`error` once the configured key is gone (the FK went NULL), else enabled → active."""
    configured = (model_configuration or {}).get("provider_key_id")
    if configured and key_id is None:
        return "error", "provider_key_deleted"
    return ("active" if enabled else "paused"), None


def run_timestamp(value: dt.datetime | None) -> dt.datetime | None:
    """In UTC (naive means UTC), which must still be a year from 1 to 9999."""
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    try:
        return value.astimezone(dt.UTC)
    except OverflowError:
        raise APIErrorCarrier(
            "Datetime is out of range: in UTC it must fall within the years 1 to 9999."
        ) from None


def same_run(sent: SentRun, stored: EvaluationRun) -> bool:
    """A re-sent run matches what is stored; an omitted timestamp matches any."""
    return (
        sent.generation_id == stored.generation_id
        and sent.trace_id == stored.trace_id
        and sent.result == stored.result
        and sent.applicable == stored.applicable
        and sent.reasoning == stored.reasoning
        and (sent.timestamp is None or sent.timestamp == stored.timestamp)
    )
