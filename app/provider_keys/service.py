"""Provider-key rules (SPEC §5.3): decrypting a stored key into Credentials, recording use."""

from __future__ import annotations

import uuid

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from app.crypto import SecretBox
from app.db import utcnow
from app.models import LLMProviderKey
from app.providers.base import Credentials
from app.providers.registry import credentials_for
from app.settings import Settings


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
