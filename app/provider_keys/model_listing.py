"""`GET …/llm_analytics/models/` (SPEC §5.5): the curated list, or exactly what a key can reach
(its live list: curated ids it contains first, then the rest sorted), cached on the key's row for
ten minutes."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from app.crypto import DecryptionError
from app.db.base import utcnow
from app.provider_keys.schemas import ALLOWED_PROVIDERS
from app.provider_keys.service import KEY_NOT_FOUND, UNREADABLE, ProviderKeyService
from app.providers.base import ProviderAuthError, ProviderError, ProviderURLNotAllowed
from app.providers.catalog import curated_models, order_live_models
from app.providers.registry import PROVIDERS, get_adapter, normalize_provider
from app.providers.wire import INVALID_KEY
from app.web.errors import NotFound, UpstreamError, ValidationFailed

CACHE_TTL = dt.timedelta(minutes=10)


def checked_provider(raw: str) -> str:
    if not raw.strip():
        raise ValidationFailed("This field is required.", code="required", attr="provider")
    provider = normalize_provider(raw)
    if provider not in PROVIDERS:
        raise ValidationFailed(
            f'"{raw}" is not a valid choice. Must be one of: {ALLOWED_PROVIDERS}.',
            code="invalid_choice",
            attr="provider",
        )
    return provider


def checked_key_id(raw: str | None) -> uuid.UUID | None:
    if raw is None or raw == "":
        return None
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise ValidationFailed("Must be a valid UUID.", code="invalid", attr="key_id") from None


def _entries(service: ProviderKeyService, provider: str, ids: list[str]) -> list[dict[str, Any]]:
    settings = service.settings
    default_key = settings.default_llm_api_key
    operator_serves = (
        settings.default_llm_provider == provider
        and default_key is not None
        and bool(default_key.get_secret_value())
    )
    curated = set(curated_models(provider)) if operator_serves else set()
    return [{"id": model, "posthog_available": model in curated} for model in ids]


async def list_models(
    service: ProviderKeyService, provider: str, key_id: uuid.UUID | None
) -> list[dict[str, Any]]:
    if key_id is None:
        return _entries(service, provider, curated_models(provider))
    key = await service.repo.get(key_id)
    if key is None:
        raise NotFound(KEY_NOT_FOUND)
    if key.provider != provider:
        raise ValidationFailed(
            f"Key provider '{key.provider}' does not match requested provider '{provider}'",
            code="invalid",
            attr="key_id",
        )
    now = utcnow()
    if (
        key.models_cache is not None
        and key.models_cached_at is not None
        and now - key.models_cached_at < CACHE_TTL
    ):
        return _entries(service, provider, order_live_models(provider, key.models_cache))
    try:
        credentials = service.credentials(key)
    except DecryptionError:
        raise ValidationFailed(UNREADABLE, code="invalid", attr="key_id") from None

    adapter = get_adapter(provider)
    await service.release()
    try:
        with service.slots.hold(service.context.team_id):
            live = await adapter.list_models(service.client, credentials)
    except ProviderAuthError:
        # The key's new state must outlive the error response: commit it on its own.
        await service.repo.save(
            key.id, state="invalid", error_message=INVALID_KEY, last_used_at=utcnow()
        )
        await service.release()
        raise ValidationFailed(INVALID_KEY, code="invalid", attr="key_id") from None
    except ProviderURLNotAllowed as error:
        raise ValidationFailed(error.message, code="invalid", attr="key_id") from None
    except ProviderError as error:
        await service.repo.save(key.id, last_used_at=utcnow())
        await service.release()
        raise UpstreamError(
            f"Could not list models from {adapter.display_name}: {error.message}",
            status_code=502,
            code="provider_error",
        ) from None
    # A provider listing a million models is cut to MAX_MODELS (curated ids first), so neither
    # the cached row nor the response grows with what the provider sends.
    live = order_live_models(provider, live)[: service.settings.max_models]
    await service.repo.cache_models(key.id, live, utcnow())
    return _entries(service, provider, live)
