"""Summary rules: runs → cache → key → one provider call per cache key → response.

Transactions, all through `app.db.session`, in order:
1. Admission (`app.summary.admission`) ends the request's transaction (authentication's
   reads), then counts the request in a `transaction` of its own: committed at once, so the
   count sticks whatever happens next; a throttled request raises inside it, which rolls its
   count back.
2. The evaluation, its runs, the cache and the team's key are read in the request's session; a
   cache hit is answered from there. Otherwise `end_transaction` commits and gives the
   connection back before the slow part.
3. One request per cache key takes a lease row and calls the provider holding no pooled
   connection, then caches the summary and drops the lease in one `transaction` (only drops the
   lease when the call failed). Identical requests poll cache and lease with jittered backoff
   until the summary appears or their deadline passes. Every take and poll is a short
   `transaction` of its own.
4. Bookkeeping (the key's `last_used_at`, the trial count) runs in the request's session again
   and is committed with the request, before the response is sent.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import logging
import random
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any

import httpx
from fastapi import Depends
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app import metrics
from app.auth.dependencies import TeamContext
from app.crypto import DecryptionError, SecretBox
from app.db.session import SessionDep, end_transaction, transaction
from app.evaluation_config.repository import EvaluationConfigRepository
from app.evaluations.repository import EvaluationRepository
from app.evaluations.rules import RunFilter, verdict_of
from app.models import EvaluationRun
from app.provider_keys.repository import ProviderKeyRepository
from app.provider_keys.service import credentials_for_key
from app.providers.base import Credentials
from app.providers.limits import TeamSlots
from app.providers.registry import credentials_for
from app.settings import Settings
from app.summary import repository as store
from app.summary.admission import admitted
from app.summary.answer import shape_summary
from app.summary.llm import ask_for_summary, timed_out
from app.summary.prompt import Prompt, build_prompt
from app.summary.schemas import MAX_ANALYSED_RUNS, SummaryRequest
from app.web.deps import (
    HttpClientDep,
    ProviderSlotsDep,
    SecretBoxDep,
    SessionmakerDep,
    SettingsDep,
)
from app.web.errors import NotFound, ValidationFailed

logger = logging.getLogger("app.summary")

NO_RUNS = "No evaluation runs found for the specified criteria"
NO_KEY = (
    "No LLM provider key is available: add a provider key and make it the team's active key "
    "(evaluation_config/set_active_key/)."
)
TRIAL_LIMIT = (
    "The team has used all its trial evaluations: add a provider key and make it the team's "
    "active key to keep summarising."
)
UNREADABLE_KEY = (
    "The team's active provider key can no longer be decrypted; enter the key again or "
    "activate another one."
)
# Waiters for an identical summary re-check every 50 ms at first, backing off to 1 s.
POLL_FIRST_SECONDS = 0.05
POLL_MAX_SECONDS = 1.0
# A lease outlives its holder's deadline by this much, then anyone may take it over.
LEASE_GRACE_SECONDS = 2.0
CACHE_VERSION = "v1"  # bump when the prompt or response shape changes: old entries then miss


def cache_key(
    evaluation_id: uuid.UUID, run_filter: RunFilter, runs: Sequence[EvaluationRun]
) -> str:
    """Digest of what was analysed: new runs (or changed verdicts) give a new key."""
    digest = hashlib.sha256(f"{CACHE_VERSION}|{evaluation_id}|{run_filter}".encode())
    for line in sorted(f"{run.id}:{verdict_of(run.result, run.applicable)}" for run in runs):
        digest.update(f"\n{line}".encode())
    return digest.hexdigest()


@dataclass(frozen=True)
class ChosenKey:
    credentials: Credentials
    model: str
    key_id: uuid.UUID | None  # a team key: its last_used_at is updated
    uses_trial: bool  # the operator's default key: one trial eval per computed summary


@dataclass
class SummaryService:
    session: AsyncSession  # the request's
    sessionmaker: async_sessionmaker[AsyncSession]  # for the short transactions of its own
    settings: Settings
    box: SecretBox
    client: httpx.AsyncClient
    team_id: int
    slots: TeamSlots

    async def summarize(self, body: SummaryRequest) -> dict[str, Any]:
        deadline = time.monotonic() + self.settings.summary_timeout_seconds
        evaluations = EvaluationRepository(self.session, self.team_id)
        evaluation = await evaluations.live(body.evaluation_id)
        if evaluation is None:
            raise NotFound(f"Evaluation {body.evaluation_id} not found")
        runs = await evaluations.latest_runs(
            evaluation.id, body.filter, body.generation_ids, MAX_ANALYSED_RUNS
        )
        if not runs:
            raise ValidationFailed(NO_RUNS, code="no_runs")
        key = cache_key(evaluation.id, body.filter, runs)
        log = {"team_id": self.team_id, "evaluation_id": str(evaluation.id), "runs": len(runs)}
        if not body.force_refresh:
            cached = await store.SummaryCache(self.session, self.team_id).get(key)
            if cached is not None:
                metrics.SUMMARY_CACHE.labels("hit").inc()
                logger.info("evaluation summary served from cache", extra=log)
                return cached
        chosen = await self._choose_key()
        prompt = build_prompt(evaluation, runs, body.filter)
        # STYLE #12: no transaction, and no pooled connection, across the provider call.
        await end_transaction(self.session)
        summary, computed = await self._compute_once(key, body, chosen, prompt, runs, deadline)
        # Found after waiting for an identical request's computation: also a hit.
        metrics.SUMMARY_CACHE.labels("miss" if computed else "hit").inc()
        if computed:
            if chosen.key_id is not None:
                await ProviderKeyRepository(self.session, self.team_id).mark_used(chosen.key_id)
            if chosen.uses_trial:
                await EvaluationConfigRepository(self.session, self.team_id).count_trial_eval()
        logger.info(
            "evaluation summary computed" if computed else "evaluation summary shared",
            extra={**log, "provider": chosen.credentials.provider, "model": chosen.model},
        )
        return summary

    async def _choose_key(self) -> ChosenKey:
        """The team's active key, else the operator's default key (on trial evals), else 400."""
        repo = EvaluationConfigRepository(self.session, self.team_id)
        config = await repo.config(self.settings.trial_eval_limit)
        key = config.active_provider_key
        if key is not None:
            try:
                credentials = credentials_for_key(self.settings, self.box, key)
            except DecryptionError:
                raise ValidationFailed(UNREADABLE_KEY, code="provider_key_unreadable") from None
            model = self.settings.summary_model_for(credentials.provider)
            return ChosenKey(credentials, model, key.id, uses_trial=False)
        provider = self.settings.default_llm_provider
        secret = self.settings.default_llm_api_key
        if provider and secret and secret.get_secret_value():
            if config.trial_evals_used >= config.trial_eval_limit:
                raise ValidationFailed(TRIAL_LIMIT, code="trial_limit_reached")
            credentials = credentials_for(self.settings, provider, secret.get_secret_value())
            model = self.settings.summary_model_for(provider)
            return ChosenKey(credentials, model, None, uses_trial=True)
        raise ValidationFailed(NO_KEY, code="no_provider_key")

    async def _compute_once(
        self,
        key: str,
        body: SummaryRequest,
        chosen: ChosenKey,
        prompt: Prompt,
        runs: Sequence[EvaluationRun],
        deadline: float,
    ) -> tuple[dict[str, Any], bool]:
        """The summary, and whether this request computed it (False: another request did).

        Single flight through a committed lease row: every database step is a short
        transaction of its own, so neither the holder (while the provider thinks) nor the
        waiters (while they poll) keep a pooled connection.
        """
        holder = uuid.uuid4()
        arrived: dt.datetime | None = None
        pause = POLL_FIRST_SECONDS
        while True:
            async with transaction(self.sessionmaker) as session:
                cache = store.SummaryCache(session, self.team_id)
                leases = store.SummaryLeases(session, self.team_id)
                arrived = arrived or await cache.now()
                lease_for = max(0.0, deadline - time.monotonic()) + LEASE_GRACE_SECONDS
                taken = await leases.take(key, holder, lease_for)
                # Read after taking: a holder that just finished released its lease in the
                # transaction that cached the summary, so this read sees that summary.
                # A forced refresh accepts only a summary computed after it arrived.
                since = arrived if body.force_refresh else None
                cached = await cache.get(key, created_since=since)
                if cached is not None and taken:
                    await leases.release(key, holder)
            if cached is not None:
                return cached, False
            if taken:
                break
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise timed_out("An identical summary", self.settings)
            # Jittered, so waiters that arrived together do not poll in step.
            await asyncio.sleep(min(pause * random.uniform(0.5, 1.5), remaining))
            pause = min(pause * 2, POLL_MAX_SECONDS)
        try:
            with self.slots.hold(self.team_id):
                answer = await ask_for_summary(
                    self.client, chosen.credentials, chosen.model, prompt, deadline, self.settings
                )
            summary = shape_summary(answer, runs, body.filter)
        except BaseException:
            await self._give_up_lease(key, holder)
            raise
        async with transaction(self.sessionmaker) as session:
            await store.SummaryCache(session, self.team_id).put(
                key, summary, self.settings.summary_cache_ttl_seconds
            )
            await store.SummaryLeases(session, self.team_id).release(key, holder)
        return summary, True

    async def _give_up_lease(self, key: str, holder: uuid.UUID) -> None:
        """Let a waiter compute at once; if this fails too, the lease simply expires."""
        try:
            async with transaction(self.sessionmaker) as session:
                await store.SummaryLeases(session, self.team_id).release(key, holder)
        except (SQLAlchemyError, OSError):
            logger.warning("summary lease left to expire", extra={"team_id": self.team_id})


def summary_service(
    context: Annotated[TeamContext, Depends(admitted)],
    session: SessionDep,
    sessionmaker: SessionmakerDep,
    settings: SettingsDep,
    box: SecretBoxDep,
    client: HttpClientDep,
    slots: ProviderSlotsDep,
) -> SummaryService:
    return SummaryService(session, sessionmaker, settings, box, client, context.team_id, slots)


SummaryServiceDep = Annotated[SummaryService, Depends(summary_service)]
