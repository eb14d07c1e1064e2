"""The pure rules of evaluations and runs (`app.evaluations.rules`), without HTTP or SQL."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, get_args

import pytest

from app.evaluations import rules
from app.evaluations.schemas import RunIn
from app.models import EvaluationRun
from app.summary.schemas import SummaryRequest
from app.web.errors import APIErrorCarrier, ValidationFailed


@pytest.mark.parametrize(
    ("result", "applicable", "verdict"),
    [
        (True, None, "pass"),
        (True, True, "pass"),
        (False, None, "fail"),
        (False, True, "fail"),
        (None, None, "na"),
        (None, True, "na"),
        (True, False, "na"),
        (False, False, "na"),
    ],
)
def test_verdict_of(result: bool | None, applicable: bool | None, verdict: str) -> None:
    assert rules.verdict_of(result, applicable) == verdict


def test_one_run_filter_vocabulary() -> None:
    assert get_args(rules.RunFilter) == ("all", "pass", "fail", "na")
    assert rules.RUN_FILTER_CHOICES == "all, pass, fail or na"
    # The summary takes the very same filter.
    assert SummaryRequest.model_fields["filter"].annotation == rules.RunFilter


def _run(result: bool | None, applicable: bool | None = None, **fields: Any) -> RunIn:
    return RunIn(generation_id="g", result=result, applicable=applicable, reasoning="r", **fields)


def test_na_needs_allows_na_and_names_the_field() -> None:
    batch = [_run(True), _run(False), _run(True, applicable=False)]
    with pytest.raises(ValidationFailed) as refused:
        rules.check_na_allowed({"allows_na": False}, batch)
    assert refused.value.attr == "runs.2.applicable"
    with pytest.raises(ValidationFailed) as refused:
        rules.check_na_allowed(None, [_run(None)])
    assert refused.value.attr == "runs.0.result"
    rules.check_na_allowed({"allows_na": True}, batch)  # accepted: nothing raised
    rules.check_na_allowed({}, [_run(True), _run(False)])


def test_status_follows_the_key_and_enabled() -> None:
    key = str(uuid.uuid4())
    configured = {"provider": "openai", "model": "m", "provider_key_id": key}
    assert rules.evaluation_status(configured, None, True) == ("error", "provider_key_deleted")
    assert rules.evaluation_status(configured, uuid.UUID(key), True) == ("active", None)
    assert rules.evaluation_status(None, None, False) == ("paused", None)
    assert rules.evaluation_status({"provider_key_id": None}, None, True) == ("active", None)


def test_run_timestamps_are_utc_within_years_1_to_9999() -> None:
    naive = dt.datetime(2026, 1, 1, 12)
    assert rules.run_timestamp(naive) == naive.replace(tzinfo=dt.UTC)
    east = dt.datetime(2026, 1, 1, 12, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    assert rules.run_timestamp(east) == dt.datetime(2026, 1, 1, 10, tzinfo=dt.UTC)
    assert rules.run_timestamp(None) is None
    too_early = dt.datetime(1, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=14)))
    with pytest.raises(APIErrorCarrier, match="years 1 to 9999"):
        rules.run_timestamp(too_early)


def test_same_run_ignores_an_omitted_timestamp() -> None:
    stamp = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    stored = EvaluationRun(
        generation_id="g",
        trace_id=None,
        result=True,
        applicable=None,
        reasoning="r",
        timestamp=stamp,
    )
    assert rules.same_run(_run(True), stored)
    assert rules.same_run(_run(True, timestamp=stamp), stored)
    assert not rules.same_run(_run(True, timestamp=stamp + dt.timedelta(seconds=1)), stored)
    assert not rules.same_run(_run(False), stored)
    assert not rules.same_run(_run(True, trace_id="t"), stored)
