"""Provider-key rules (SPEC §5.3): a key is stored only after a live `ok`, a PATCH with a new
key validates it first, a new endpoint needs the key in the same request, and every provider
call made with a stored key sets its `last_used_at`.

Provider calls (and the DNS lookups of the endpoint checks) are slow, so the request's
transaction is ended (`end_transaction`) before each one and the writes happen afterwards in a
fresh one (STYLE §12): nothing holds a row lock, or a pooled connection, while a provider thinks.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

import httpx
from fastapi import Depends
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.dependencies import TeamContext
from app.crypto import DecryptionError, SecretBox, mask_key
from app.db.base import utcnow
from app.db.session import SessionDep, end_transaction
from app.evaluation_config.repository import EvaluationConfigRepository
from app.models import LLMProviderKey
from app.provider_keys.checks import Connection, checked_connection
from app.provider_keys.model_listing import list_models
from app.provider_keys.repository import ProviderKeyRepository
from app.provider_keys.rules import (
    UNREADABLE,
    check_activatable,
    check_key_format,
    effective_state,
    key_format_error,
)
from app.provider_keys.schemas import (
    KeyValidationRequest,
    ProviderKeyCreate,
    ProviderKeyUpdate,
    render_key,
)
from app.providers.base import Credentials, KeyCheck, KeyState
from app.providers.limits import TeamSlots
from app.providers.registry import credentials_for, get_adapter
from app.settings import Settings
from app.web.deps import HttpClientDep, ProviderSlotsDep, SecretBoxDep, SettingsDep
from app.web.errors import NotFound, ValidationFailed

T = TypeVar("T")
ENDPOINT_NEEDS_KEY = (
    "Changing the endpoint of a stored key requires its api_key in the same request."
)


def credentials_for_key(settings: Settings, box: SecretBox, key: LLMProviderKey) -> Credentials:
    """What an adapter needs to call the key's provider; raises DecryptionError."""
    return credentials_for(
        settings,
        key.provider,
        box.decrypt(key.encrypted_api_key),
        base_url=key.base_url,
        azure_endpoint=key.azure_endpoint,
        api_version=key.api_version,
    )


@dataclass
class ProviderKeyService:
    session: AsyncSession
    settings: Settings
    box: SecretBox
    client: httpx.AsyncClient
    slots: TeamSlots

    def keys(self, context: TeamContext) -> ProviderKeyRepository:
        return ProviderKeyRepository(self.session, context.team_id)

    def _configs(self, context: TeamContext) -> EvaluationConfigRepository:
        return EvaluationConfigRepository(self.session, context.team_id)

    async def call_provider(self, context: TeamContext, call: Callable[[], Awaitable[T]]) -> T:
        """The one boundary of a provider call: end the request's transaction (later writes
        begin a new one), then call holding one of the team's slots (429 when all are taken)."""
        await end_transaction(self.session)
        with self.slots.hold(context.team_id):
            return await call()

    def credentials(self, key: LLMProviderKey) -> Credentials:
        return credentials_for_key(self.settings, self.box, key)

    async def get(self, context: TeamContext, key_id: uuid.UUID) -> LLMProviderKey:
        key = await self.keys(context).get(key_id)
        if key is None:
            raise NotFound()
        return key

    async def _rendered(self, context: TeamContext, key: LLMProviderKey) -> dict[str, Any]:
        return render_key(self.box, key, await self._configs(context).active_key_id())

    # --- reads ---------------------------------------------------------------------------------

    async def page(
        self, context: TeamContext, *, offset: int, limit: int
    ) -> tuple[int, list[dict[str, Any]]]:
        count, keys = await self.keys(context).page(offset=offset, limit=limit)
        active_id = await self._configs(context).active_key_id()
        return count, [render_key(self.box, key, active_id) for key in keys]

    async def retrieve(self, context: TeamContext, key_id: uuid.UUID) -> dict[str, Any]:
        return await self._rendered(context, await self.get(context, key_id))

    async def models(
        self, context: TeamContext, provider: str, key_id: uuid.UUID | None
    ) -> list[dict[str, Any]]:
        """The curated models, or those the key `key_id` can reach (model_listing.py)."""
        return await list_models(self, context, provider, key_id)

    # --- live checks ---------------------------------------------------------------------------

    async def live_check(
        self, context: TeamContext, provider: str, api_key: str, connection: Connection
    ) -> KeyCheck:
        credentials = credentials_for(
            self.settings,
            provider,
            api_key,
            base_url=connection.base_url,
            azure_endpoint=connection.azure_endpoint,
            api_version=connection.api_version,
        )
        adapter = get_adapter(provider)
        return await self.call_provider(
            context, lambda: adapter.validate_key(self.client, credentials)
        )

    async def _validated(
        self, context: TeamContext, provider: str, api_key: str, connection: Connection
    ) -> None:
        """Format, then a live call; anything but `ok` is a 400 on `api_key`."""
        check_key_format(provider, api_key)
        result = await self.live_check(context, provider, api_key, connection)
        if result.state != KeyState.OK:
            raise ValidationFailed(
                result.error_message or "Key validation failed", code="invalid", attr="api_key"
            )

    async def _checked_connection(self, provider: str, asked: Connection) -> Connection:
        await end_transaction(self.session)  # the checks may resolve DNS; hold nothing meanwhile
        return await checked_connection(self.settings, provider, asked)

    async def check(self, context: TeamContext, body: KeyValidationRequest) -> dict[str, Any]:
        """`provider_key_validations/`: the provider's verdict on a key; nothing is stored."""
        if not body.api_key or not body.api_key.strip():
            raise ValidationFailed("API key is required.", code="required", attr="api_key")
        api_key = body.api_key.strip()
        format_error = key_format_error(body.provider, api_key)
        if format_error is not None:
            return {"state": KeyState.INVALID.value, "error_message": format_error}
        asked = Connection(body.base_url, body.azure_endpoint, body.api_version)
        connection = await self._checked_connection(body.provider, asked)
        result = await self.live_check(context, body.provider, api_key, connection)
        return {"state": result.state.value, "error_message": result.error_message}

    # --- writes --------------------------------------------------------------------------------

    async def create(self, context: TeamContext, body: ProviderKeyCreate) -> dict[str, Any]:
        asked = Connection(body.base_url, body.azure_endpoint, body.api_version)
        connection = await self._checked_connection(body.provider, asked)
        await self._validated(context, body.provider, body.api_key, connection)
        key = LLMProviderKey(
            team_id=context.team_id,
            provider=body.provider,
            name=body.name,
            state=KeyState.OK.value,
            error_message=None,
            encrypted_api_key=self.box.encrypt(body.api_key),
            api_key_masked=mask_key(body.api_key),
            base_url=connection.base_url,
            azure_endpoint=connection.azure_endpoint,
            api_version=connection.api_version,
            created_by_id=context.user_id,
        )
        await self.keys(context).add(key)
        if body.set_as_active:
            await self._configs(context).set_active(key.id, self.settings.trial_eval_limit)
        return render_key(self.box, key, key.id if body.set_as_active else None)

    async def _connection_after(self, key: LLMProviderKey, body: ProviderKeyUpdate) -> Connection:
        fields = body.model_fields_set
        if not fields & {"base_url", "azure_endpoint", "api_version"}:
            # Nothing to re-check (and no DNS lookup for a rename).
            return Connection(key.base_url, key.azure_endpoint, key.api_version)
        asked = Connection(
            body.base_url if "base_url" in fields else key.base_url,
            body.azure_endpoint if "azure_endpoint" in fields else key.azure_endpoint,
            body.api_version if "api_version" in fields else key.api_version,
        )
        return await self._checked_connection(key.provider, asked)

    async def update(
        self, context: TeamContext, key_id: uuid.UUID, body: ProviderKeyUpdate
    ) -> dict[str, Any]:
        fields = body.model_fields_set
        key = await self.get(context, key_id)
        if "name" in fields and body.name is None:
            raise ValidationFailed("This field may not be null.", code="null", attr="name")
        connection = await self._connection_after(key, body)
        before = Connection(key.base_url, key.azure_endpoint, key.api_version)
        if body.api_key is None and (
            connection.base_url != before.base_url
            or connection.azure_endpoint != before.azure_endpoint
        ):
            # A stored secret only ever travels to the endpoint it was validated with
            # (SPEC §5.3): a new host must come with a key the caller knows.
            raise ValidationFailed(ENDPOINT_NEEDS_KEY, code="required", attr="api_key")
        changes: dict[str, Any] = {
            "base_url": connection.base_url,
            "azure_endpoint": connection.azure_endpoint,
            "api_version": connection.api_version,
            # Any PATCH drops the cached model list (SPEC §5.3).
            "models_cache": None,
            "models_cached_at": None,
        }
        if body.name is not None:
            changes["name"] = body.name
        if body.api_key is not None:
            await self._validated(context, key.provider, body.api_key, connection)
            key = await self.get(context, key_id)  # re-read: the call ended the transaction
            changes.update(
                encrypted_api_key=self.box.encrypt(body.api_key),
                api_key_masked=mask_key(body.api_key),
                state=KeyState.OK.value,
                error_message=None,
            )
        elif connection != before:
            # The stored key was checked against another endpoint: it is unknown here.
            changes.update(state=KeyState.UNKNOWN.value, error_message=None)
        for name, value in changes.items():
            setattr(key, name, value)
        await self.session.flush()
        if body.set_as_active is not None:
            await self._apply_active_flag(context, key, body.set_as_active)
        return await self._rendered(context, key)

    async def _apply_active_flag(
        self, context: TeamContext, key: LLMProviderKey, active: bool
    ) -> None:
        configs = self._configs(context)
        if active:
            state, _ = effective_state(self.box, key)
            check_activatable(state, attr="set_as_active", code=None)
            await configs.set_active(key.id, self.settings.trial_eval_limit)
        elif await configs.active_key_id() == key.id:
            await configs.set_active(None, self.settings.trial_eval_limit)

    async def revalidate(self, context: TeamContext, key_id: uuid.UUID) -> dict[str, Any]:
        """`validate/`: re-check the stored key and save what the provider said."""
        key = await self.get(context, key_id)
        try:
            credentials = self.credentials(key)
        except DecryptionError:
            key.state, key.error_message = KeyState.ERROR.value, UNREADABLE
            await self.session.flush()
            return await self._rendered(context, key)
        adapter = get_adapter(key.provider)
        result = await self.call_provider(
            context, lambda: adapter.validate_key(self.client, credentials)
        )
        key = await self.get(context, key_id)
        key.state = result.state.value
        key.error_message = result.error_message
        key.last_used_at = utcnow()
        await self.session.flush()
        return await self._rendered(context, key)

    async def delete(self, context: TeamContext, key_id: uuid.UUID) -> None:
        await self.keys(context).delete(await self.get(context, key_id))


def provider_key_service(
    session: SessionDep,
    settings: SettingsDep,
    box: SecretBoxDep,
    client: HttpClientDep,
    slots: ProviderSlotsDep,
) -> ProviderKeyService:
    return ProviderKeyService(session, settings, box, client, slots)


ProviderKeyServiceDep = Annotated[ProviderKeyService, Depends(provider_key_service)]
