"""One model call of an experiment: bounded concurrency, retries with backoff, ledger entries.

A 429 waits what the provider's `Retry-After` asks (capped); a 5xx, connect error or timeout
waits a jittered exponential backoff; both give up after EXPERIMENT_MAX_ATTEMPTS calls. An
answer that is not usable is retried once with a note. A rejected key stops the experiment.
Each call attempt yields one ledger row; the caller writes them (the last one together with
the verdict, in the same short transaction).
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import httpx

from app.experiments.judge import UnusableVerdict
from app.experiments.keys import Target
from app.experiments.metrics import CALL_LATENCY, CALLS
from app.providers.base import (
    ProviderAuthError,
    ProviderBadResponse,
    ProviderError,
    ProviderRateLimited,
    ProviderTimeout,
    ProviderUnavailable,
    ProviderURLNotAllowed,
    StructuredRequest,
)
from app.providers.registry import get_adapter
from app.settings import Settings

T = TypeVar("T")
BAD_OUTPUT_ATTEMPTS = 2  # the first answer and one retry


class ExperimentStopped(Exception):
    """The experiment must stop (`failed`) with this status_reason."""

    def __init__(self, reason: str, calls: list[dict[str, Any]] | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.calls = calls or []  # ledger rows of the calls made before stopping


class Gates:
    """Per-worker bounds: calls in flight in total, per team and per provider key."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.total = asyncio.Semaphore(settings.experiment_worker_concurrency)
        self._teams: dict[int, asyncio.Semaphore] = {}
        self._keys: dict[str, asyncio.Semaphore] = {}

    def team(self, team_id: int) -> asyncio.Semaphore:
        limit = self.settings.experiment_team_concurrency
        return self._teams.setdefault(team_id, asyncio.Semaphore(limit))

    def key(self, target: Target) -> asyncio.Semaphore:
        name = str(target.key_id) if target.key_id else f"default:{target.provider}"
        limit = self.settings.experiment_key_concurrency
        return self._keys.setdefault(name, asyncio.Semaphore(limit))


@dataclass
class Outcome(Generic[T]):
    value: T | None = None
    error: str | None = None  # the message of an `error` verdict
    calls: list[dict[str, Any]] = field(default_factory=list)
    latency_ms: int = 0
    input_tokens: int | None = None
    output_tokens: int | None = None


def _classify(exc: Exception) -> tuple[str, str]:
    if isinstance(exc, UnusableVerdict):
        return "bad_output", str(exc)
    if isinstance(exc, ProviderRateLimited):
        return "rate_limited", exc.message
    if isinstance(exc, ProviderTimeout | TimeoutError):
        return "timeout", getattr(exc, "message", "The provider did not answer in time")
    if isinstance(exc, ProviderUnavailable):
        return "unavailable", exc.message
    if isinstance(exc, ProviderAuthError):
        return "auth_failed", exc.message
    if isinstance(exc, ProviderBadResponse):
        return "bad_output", exc.message
    if isinstance(exc, ProviderURLNotAllowed):
        return "url_blocked", exc.message
    assert isinstance(exc, ProviderError)
    return "rejected", exc.message


def _backoff(attempt: int, settings: Settings, exc: Exception) -> float:
    cap = settings.experiment_max_backoff_seconds
    if isinstance(exc, ProviderRateLimited) and exc.retry_after is not None:
        return min(cap, exc.retry_after)
    # Full jitter: uniform in (0, base * 2^n], so retries of many calls spread out.
    return min(cap, random.uniform(0.05, 0.5 * 2 ** (attempt - 1)))


async def call_model(
    client: httpx.AsyncClient,
    settings: Settings,
    gates: Gates,
    team_id: int,
    target: Target,
    build: Callable[[str | None], StructuredRequest],
    parse: Callable[[dict[str, Any]], T],
    spend_trial: Callable[[], Awaitable[bool]],
    ledger: dict[str, Any],
) -> Outcome[T]:
    """Ask the model until a usable answer, or give up with an error message.

    `build(note)` makes the request (note: why the previous answer was refused); `ledger`
    holds the fixed columns of this call's ledger rows.
    """
    adapter = get_adapter(target.provider)
    outcome: Outcome[T] = Outcome()
    note: str | None = None
    bad_outputs = 0
    for attempt in range(1, settings.experiment_max_attempts + BAD_OUTPUT_ATTEMPTS):
        request = build(note)
        if target.uses_trial and not await spend_trial():
            raise ExperimentStopped("trial_limit_reached", outcome.calls)
        digest = hashlib.sha256(f"{request.system}\n{request.user}".encode()).hexdigest()
        started = time.perf_counter()
        error: Exception | None = None
        try:
            async with gates.team(team_id), gates.key(target), gates.total:
                started = time.perf_counter()
                raw = await adapter.complete_json(client, target.credentials, request)
            outcome.value = parse(raw)
        except (ProviderError, UnusableVerdict, TimeoutError) as exc:
            error = exc
        elapsed = time.perf_counter() - started
        usage = request.usage
        kind, message = ("ok", None) if error is None else _classify(error)
        CALLS.labels(target.provider, kind).inc()
        CALL_LATENCY.labels(target.provider).observe(elapsed)
        outcome.latency_ms = int(elapsed * 1000)
        outcome.input_tokens = usage.input_tokens if usage else None
        outcome.output_tokens = usage.output_tokens if usage else None
        outcome.calls.append(
            {
                **ledger,
                "provider": target.provider,
                "model": target.model,
                "provider_key_id": target.key_id,
                "key_source": target.source,
                "prompt_sha256": digest,
                "attempt": attempt,
                "latency_ms": outcome.latency_ms,
                "input_tokens": outcome.input_tokens,
                "output_tokens": outcome.output_tokens,
                "outcome": kind,
                "error_class": None if error is None else type(error).__name__,
                "error_message": message,
            }
        )
        if error is None:
            return outcome
        outcome.error = message
        if kind == "auth_failed":
            raise ExperimentStopped("provider_auth_failed", outcome.calls)
        if kind == "bad_output":
            bad_outputs += 1
            if bad_outputs >= BAD_OUTPUT_ATTEMPTS:
                return outcome
            note = message
            continue
        if kind in ("rejected", "url_blocked"):
            return outcome
        if attempt - bad_outputs >= settings.experiment_max_attempts:
            return outcome
        await asyncio.sleep(_backoff(attempt - bad_outputs, settings, error))
    return outcome
