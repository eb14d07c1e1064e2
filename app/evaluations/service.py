"""Evaluation rules that need the database: the key a model configuration names, creating and
updating evaluations, and run ingestion (N/A acceptance, duplicates and conflicts)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends
from pydantic import BaseModel

from app.auth.dependencies import CanWriteEvaluations
from app.db.session import SessionDep
from app.evaluations import rules
from app.evaluations.repository import EvaluationRepository
from app.evaluations.schemas import EvaluationCreate, EvaluationUpdate, ModelConfigurationIn, RunIn
from app.models import Evaluation
from app.web.errors import NotFound, ValidationFailed

KEY_ATTR = "model_configuration.provider_key_id"


@dataclass
class RunOutcome:
    """What became of a batch: runs stored, runs already stored as sent, runs whose id is
    stored with other content (kept as stored, reported by id)."""

    created: int = 0
    duplicates: int = 0
    conflicts: int = 0
    conflict_ids: list[uuid.UUID] = field(default_factory=list)


class EvaluationService:
    """Writes of one team's evaluations and runs."""

    def __init__(self, repo: EvaluationRepository) -> None:
        self.repo = repo

    async def _checked_key_name(self, configuration: ModelConfigurationIn) -> str | None:
        """A referenced key must be one of the team's keys, for the configured provider."""
        if configuration.provider_key_id is None:
            return None
        key = await self.repo.provider_key(configuration.provider_key_id)
        if key is None:
            raise ValidationFailed("Provider key not found.", code="invalid", attr=KEY_ATTR)
        if key.provider != configuration.provider:
            raise ValidationFailed(
                f"Provider key is a '{key.provider}' key, not '{configuration.provider}'.",
                code="invalid",
                attr=KEY_ATTR,
            )
        return key.name

    async def create(self, body: EvaluationCreate, user_id: int) -> tuple[Evaluation, str | None]:
        """The new evaluation and its key's name."""
        configuration = body.model_configuration
        key_name = None if configuration is None else await self._checked_key_name(configuration)
        evaluation = Evaluation(
            name=body.name,
            description=body.description,
            enabled=body.enabled,
            evaluation_type=body.evaluation_type,
            evaluation_config=body.evaluation_config.model_dump(),
            output_type=body.output_type,
            output_config=body.output_config.model_dump(),
            conditions=body.conditions,
            **_configuration_columns(configuration),
            deleted=body.deleted,
            created_by_id=user_id,
        )
        await self.repo.add(evaluation)
        return evaluation, key_name

    async def update(
        self, evaluation_id: uuid.UUID, body: EvaluationUpdate
    ) -> tuple[Evaluation, str | None]:
        """Apply the fields sent (deleted evaluations too: that is how they are restored)."""
        found = await self.repo.get(evaluation_id, include_deleted=True)
        if found is None:
            raise NotFound()
        evaluation, _ = found
        values: dict[str, Any] = {}
        for name in body.model_fields_set - {"model_configuration"}:
            value = getattr(body, name)
            # Nested configs are stored whole, their defaults included ({} → {"allows_na": false}).
            values[name] = value.model_dump() if isinstance(value, BaseModel) else value
        if "model_configuration" in body.model_fields_set:
            configuration = body.model_configuration
            if configuration is not None:
                await self._checked_key_name(configuration)
            values.update(_configuration_columns(configuration))
        await self.repo.update(evaluation, values)
        # Read back: the key's name comes with the row.
        refreshed = await self.repo.get(evaluation_id, include_deleted=True)
        assert refreshed is not None
        return refreshed

    async def live(self, evaluation_id: uuid.UUID) -> Evaluation:
        """The team's evaluation, 404 when missing or deleted."""
        evaluation = await self.repo.live(evaluation_id)
        if evaluation is None:
            raise NotFound()
        return evaluation

    async def record_runs(self, evaluation_id: uuid.UUID, runs: list[RunIn]) -> RunOutcome:
        """Store a batch, all or nothing; sort the ids already stored into duplicates (the same
        run again) and conflicts (other content: the stored run stays)."""
        evaluation = await self.live(evaluation_id)
        rules.check_na_allowed(evaluation.output_config, runs)
        ids, created = await self.repo.insert_runs(evaluation.id, runs)
        outcome = RunOutcome(created=len(created))
        skipped: list[tuple[RunIn, uuid.UUID]] = []
        for run, run_id in zip(runs, ids, strict=True):
            if run_id in created:
                created.discard(run_id)  # a later run with this id was skipped
            else:
                skipped.append((run, run_id))
        if not skipped:
            return outcome
        stored = await self.repo.runs_by_id(evaluation.id, {run_id for _, run_id in skipped})
        for run, run_id in skipped:
            if rules.same_run(run, stored[run_id]):
                outcome.duplicates += 1
            else:
                outcome.conflicts += 1
                if run_id not in outcome.conflict_ids:
                    outcome.conflict_ids.append(run_id)
        return outcome


def _configuration_columns(configuration: ModelConfigurationIn | None) -> dict[str, Any]:
    """The stored form of a model configuration: the JSON, and the key as a foreign key."""
    if configuration is None:
        return {"model_configuration": None, "model_provider_key_id": None}
    return {
        "model_configuration": configuration.model_dump(mode="json"),
        "model_provider_key_id": configuration.provider_key_id,
    }


def evaluation_service(context: CanWriteEvaluations, session: SessionDep) -> EvaluationService:
    return EvaluationService(EvaluationRepository(session, context.team_id))


EvaluationServiceDep = Annotated[EvaluationService, Depends(evaluation_service)]
