"""Provider-key rules (SPEC §5.3): create/update with live validation, re-validation, and the
helpers other features use to call a provider with a stored key.

Provider calls are slow, so the request's transaction is ended (`release`) before each call and
the writes happen afterwards in a fresh one (STYLE §12): nothing holds a row lock, or a pooled
connection's transaction, while a provider thinks.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi import Request
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.dependencies import TeamContext
from app.auth.users import render_user, user_row
from app.crypto import DecryptionError, SecretBox, mask_key
from app.db.base import utcnow
from app.models import LLMProviderKey
from app.provider_keys.checks import Connection, check_key_format, checked_connection
from app.provider_keys.repository import ProviderKeyRepository
from app.provider_keys.schemas import ProviderKeyCreate, ProviderKeyUpdate
from app.providers.base import Credentials, KeyCheck, KeyState
from app.providers.limits import TeamSlots
from app.providers.registry import credentials_for, get_adapter
from app.settings import Settings
from app.web.errors import NotFound, ValidationFailed

UNREADABLE = (
    "The stored API key cannot be decrypted with the configured encryption keys; "
    "enter the key again."
)
KEY_NOT_FOUND = "Key not found."
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


async def mark_used(session: AsyncSession, key_id: uuid.UUID) -> None:
    """Set `last_used_at` (SPEC §5.3: every provider call made with a stored key)."""
    await session.execute(
        update(LLMProviderKey)
        .where(LLMProviderKey.id == key_id)
        .values(last_used_at=utcnow())
        .execution_options(synchronize_session=False)
    )


def parse_key_id(raw: str) -> uuid.UUID:
    """A path id that is not a UUID names no key: 404, like any other unknown id."""
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise NotFound() from None


@dataclass
class ProviderKeyService:
    session: AsyncSession
    settings: Settings
    box: SecretBox
    client: httpx.AsyncClient
    context: TeamContext
    slots: TeamSlots

    @classmethod
    def from_request(
        cls, request: Request, session: AsyncSession, context: TeamContext
    ) -> ProviderKeyService:
        state = request.app.state
        return cls(
            session,
            state.settings,
            state.secret_box,
            state.http_client,
            context,
            state.provider_slots,
        )

    @property
    def repo(self) -> ProviderKeyRepository:
        return ProviderKeyRepository(self.session, self.context.team_id)

    async def release(self) -> None:
        """End the current transaction before a provider call; later writes autobegin anew."""
        await self.session.commit()

    def credentials(self, key: LLMProviderKey) -> Credentials:
        return credentials_for_key(self.settings, self.box, key)

    async def get(self, key_id: uuid.UUID) -> LLMProviderKey:
        key = await self.repo.get(key_id)
        if key is None:
            raise NotFound()
        return key

    # --- presenting ------------------------------------------------------------------------------

    def readable(self, key: LLMProviderKey) -> bool:
        try:
            self.box.decrypt(key.encrypted_api_key)
        except DecryptionError:
            return False
        return True

    def effective_state(self, key: LLMProviderKey) -> tuple[str, str | None]:
        """A key whose secret no configured key can open reads as `error` (never a 500)."""
        if not self.readable(key):
            return KeyState.ERROR.value, UNREADABLE
        return key.state, key.error_message

    def present(self, key: LLMProviderKey, active_id: uuid.UUID | None) -> dict[str, Any]:
        state, error_message = self.effective_state(key)
        is_azure = key.provider == "azure_openai"
        return {
            "id": key.id,
            "provider": key.provider,
            "name": key.name,
            "state": state,
            "error_message": error_message,
            "api_key_masked": key.api_key_masked,
            "set_as_active": active_id is not None and active_id == key.id,
            "created_at": key.created_at,
            "created_by": render_user(user_row(key.created_by)),
            "last_used_at": key.last_used_at,
            "base_url": key.base_url,
            "azure_endpoint": key.azure_endpoint,
            "api_version": key.api_version,
            "azure_endpoint_display": key.azure_endpoint if is_azure else None,
            "api_version_display": key.api_version if is_azure else None,
        }

    # --- live checks ---------------------------------------------------------------------------

    async def live_check(self, provider: str, api_key: str, connection: Connection) -> KeyCheck:
        credentials = credentials_for(
            self.settings,
            provider,
            api_key,
            base_url=connection.base_url,
            azure_endpoint=connection.azure_endpoint,
            api_version=connection.api_version,
        )
        await self.release()
        with self.slots.hold(self.context.team_id):
            return await get_adapter(provider).validate_key(self.client, credentials)

    async def _validated(self, provider: str, api_key: str, connection: Connection) -> None:
        """Format, then a live call; anything but `ok` is a 400 on `api_key`."""
        check_key_format(provider, api_key)
        result = await self.live_check(provider, api_key, connection)
        if result.state != KeyState.OK:
            raise ValidationFailed(
                result.error_message or "Key validation failed", code="invalid", attr="api_key"
            )

    # --- writes --------------------------------------------------------------------------------

    async def create(self, body: ProviderKeyCreate) -> LLMProviderKey:
        await self.release()  # the endpoint checks may resolve DNS; hold nothing meanwhile
        connection = await checked_connection(
            self.settings,
            body.provider,
            base_url=body.base_url,
            azure_endpoint=body.azure_endpoint,
            api_version=body.api_version,
        )
        await self._validated(body.provider, body.api_key, connection)
        key = LLMProviderKey(
            team_id=self.context.team_id,
            provider=body.provider,
            name=body.name,
            state=KeyState.OK.value,
            error_message=None,
            encrypted_api_key=self.box.encrypt(body.api_key),
            api_key_masked=mask_key(body.api_key),
            base_url=connection.base_url,
            azure_endpoint=connection.azure_endpoint,
            api_version=connection.api_version,
            created_by_id=self.context.user_id,
        )
        await self.repo.add(key)
        if body.set_as_active:
            await self.repo.set_active(key.id, self.settings.trial_eval_limit)
        return key

    async def _connection_after(self, key: LLMProviderKey, body: ProviderKeyUpdate) -> Connection:
        fields = body.model_fields_set
        if not fields & {"base_url", "azure_endpoint", "api_version"}:
            # Nothing to re-check (and no DNS lookup for a rename).
            return Connection(key.base_url, key.azure_endpoint, key.api_version)
        await self.release()  # the checks may resolve DNS
        return await checked_connection(
            self.settings,
            key.provider,
            base_url=body.base_url if "base_url" in fields else key.base_url,
            azure_endpoint=body.azure_endpoint
            if "azure_endpoint" in fields
            else key.azure_endpoint,
            api_version=body.api_version if "api_version" in fields else key.api_version,
        )

    async def update(self, key_id: uuid.UUID, body: ProviderKeyUpdate) -> LLMProviderKey:
        fields = body.model_fields_set
        key = await self.get(key_id)
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
            await self._validated(key.provider, body.api_key, connection)
            key = await self.get(key_id)  # re-read: the transaction was released for the call
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
            await self._apply_active_flag(key, body.set_as_active)
        return key

    async def _apply_active_flag(self, key: LLMProviderKey, active: bool) -> None:
        if active:
            state, _ = self.effective_state(key)
            if state != KeyState.OK.value:
                raise ValidationFailed(activation_refused(state), attr="set_as_active")
            await self.repo.set_active(key.id, self.settings.trial_eval_limit)
        elif await self.repo.active_key_id() == key.id:
            await self.repo.set_active(None, self.settings.trial_eval_limit)

    async def revalidate(self, key_id: uuid.UUID) -> LLMProviderKey:
        """`validate/`: re-check the stored key and save what the provider said."""
        key = await self.get(key_id)
        try:
            credentials = credentials_for_key(self.settings, self.box, key)
        except DecryptionError:
            key.state, key.error_message = KeyState.ERROR.value, UNREADABLE
            await self.session.flush()
            return key
        await self.release()
        with self.slots.hold(self.context.team_id):
            result = await get_adapter(key.provider).validate_key(self.client, credentials)
        key = await self.get(key_id)
        key.state = result.state.value
        key.error_message = result.error_message
        key.last_used_at = utcnow()
        await self.session.flush()
        return key

    async def delete(self, key_id: uuid.UUID) -> None:
        await self.repo.delete(await self.get(key_id))


def activation_refused(state: str) -> str:
    return f"Cannot activate key with state '{state}'. Please validate the key first."
