"""Admission to the summary: the per-team throttles (429, counted in PostgreSQL whatever happens
next) and the organization's AI data processing approval (403), as one dependency."""

from __future__ import annotations

import math
from collections.abc import Sequence

from app import metrics
from app.auth.dependencies import CanWriteLLMAnalytics, TeamContext
from app.db.session import SessionDep, end_transaction, transaction
from app.summary import repository as store
from app.web.deps import SessionmakerDep, SettingsDep
from app.web.errors import PermissionDenied, Throttled

AI_NOT_APPROVED = (
    "AI data processing must be approved by your organization before using summarization"
)
THROTTLE_NAMES = {"minute": "burst", "hour": "sustained", "day": "daily"}


async def admitted(
    context: CanWriteLLMAnalytics,
    session: SessionDep,
    sessionmaker: SessionmakerDep,
    settings: SettingsDep,
) -> TeamContext:
    """The caller, once counted against the team's throttles (429) and checked for AI
    approval (403)."""
    # Authentication is done: its connection goes back before the count takes one.
    await end_transaction(session)
    limits = {
        "minute": settings.summary_throttle_burst,
        "hour": settings.summary_throttle_sustained,
        "day": settings.summary_throttle_daily,
    }
    # Committed on leaving, so the count sticks even when the request fails later (SPEC §5.8);
    # a refused request raises inside and is not counted.
    async with transaction(sessionmaker) as counting:
        windows = await store.count_request(counting, context.team_id)
        wait = retry_after(windows, limits)
        if wait is not None:
            metrics.THROTTLED.labels(_refusing_throttle(windows, limits)).inc()
            raise Throttled(wait)
    if not context.ai_data_processing_approved:
        raise PermissionDenied(AI_NOT_APPROVED)
    return context


def retry_after(windows: Sequence[store.WindowCount], limits: dict[str, int]) -> int | None:
    """Seconds until every exceeded window has ended, or None when all are within limits."""
    exceeded = [w.seconds_left for w in windows if w.count > limits[w.bucket]]
    return max(1, math.ceil(max(exceeded))) if exceeded else None


def _refusing_throttle(windows: Sequence[store.WindowCount], limits: dict[str, int]) -> str:
    """The exceeded window that lasts longest (the one Retry-After waits for), by setting name."""
    exceeded = [w for w in windows if w.count > limits[w.bucket]]
    longest = max(exceeded, key=lambda w: w.seconds_left)
    return THROTTLE_NAMES.get(longest.bucket, longest.bucket)
