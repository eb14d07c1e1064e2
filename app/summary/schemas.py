"""Request and response bodies of the summary endpoint (the seed's shape + `example_reasoning`)."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from pydantic import Field, StringConstraints, field_validator

from app.evaluations.rules import RUN_FILTER_CHOICES, RunFilter
from app.web.errors import APIErrorCarrier
from app.web.schemas import APIModel

MAX_ANALYSED_RUNS = 250
Frequency = Literal["common", "occasional", "rare"]


class SummaryRequest(APIModel):
    evaluation_id: uuid.UUID = Field(description="The evaluation whose runs are summarised.")
    filter: RunFilter = Field(
        default="all", description=f"Which runs to analyse: {RUN_FILTER_CHOICES}."
    )
    generation_ids: (
        list[Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=400)]]
        | None
    ) = Field(
        default=None,
        description=f"Only runs of these generations (at most {MAX_ANALYSED_RUNS}).",
    )
    force_refresh: bool = Field(
        default=False, description="Ignore a cached summary and compute (and cache) a new one."
    )

    @field_validator("generation_ids")
    @classmethod
    def _at_most_250(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and len(value) > MAX_ANALYSED_RUNS:
            raise APIErrorCarrier(
                f"Ensure this field has no more than {MAX_ANALYSED_RUNS} elements.",
                code="max_length",
            )
        return value


class SummaryPattern(APIModel):
    title: str
    description: str
    frequency: Frequency
    example_reasoning: str
    example_generation_ids: list[str]


class SummaryStatistics(APIModel):
    total_analyzed: int
    pass_count: int
    fail_count: int
    na_count: int


class SummaryResponse(APIModel):
    overall_assessment: str
    pass_patterns: list[SummaryPattern]
    fail_patterns: list[SummaryPattern]
    na_patterns: list[SummaryPattern]
    recommendations: list[str]
    statistics: SummaryStatistics


class SummaryErrorBody(APIModel):
    """This endpoint's errors also carry `error` (= `detail`), as the reference answers."""

    type: str
    code: str
    detail: str
    attr: str | None = None
    error: str
