"""`GET …/llm_analytics/models/` (SPEC §5.5): the curated list, or exactly what a key can reach
(its live list: curated ids it contains first, then the rest sorted), cached on the key's row for
ten minutes."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import TYPE_CHECKING, Any

from app.auth.dependencies import TeamContext
from app.crypto import DecryptionError
from app.db.base import utcnow
from app.db.session import end_transaction
from app.provider_keys.rules import KEY_NOT_FOUND, UNREADABLE
from app.providers.base import ProviderAuthError, ProviderError, ProviderURLNotAllowed
from app.providers.catalog import curated_models, order_live_models
from app.providers.registry import get_adapter
from app.providers.wire import INVALID_KEY
from app.settings import Settings
from app.web.errors import NotFound, UpstreamError, ValidationFailed

if TYPE_CHECKING:
    from app.provider_keys.service import ProviderKeyService

CACHE_TTL = dt.timedelta(minutes=10)


def _entries(settings: Settings, provider: str, ids: list[str]) -> list[dict[str, Any]]:
    default_key = settings.default_llm_api_key
    operator_serves = (
        settings.default_llm_provider == provider
        and default_key is not None
        and bool(default_key.get_secret_value())
    )
    curated = set(curated_models(provider)) if operator_serves else set()
    return [{"id": model, "posthog_available": model in curated} for model in ids]


async def list_models(
    service: ProviderKeyService, context: TeamContext, provider: str, key_id: uuid.UUID | None
) -> list[dict[str, Any]]:
    settings = service.settings
    if key_id is None:
        return _entries(settings, provider, curated_models(provider))
    keys = service.keys(context)
    key = await keys.get(key_id)
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
        return _entries(settings, provider, order_live_models(provider, key.models_cache))
    try:
        credentials = service.credentials(key)
    except DecryptionError:
        raise ValidationFailed(UNREADABLE, code="invalid", attr="key_id") from None

    adapter = get_adapter(provider)
    try:
        live = await service.call_provider(
            context, lambda: adapter.list_models(service.client, credentials)
        )
    except ProviderAuthError:
        # The key's new state must outlive the error response: commit it on its own.
        await keys.save(key.id, state="invalid", error_message=INVALID_KEY, last_used_at=utcnow())
        await end_transaction(service.session)
        raise ValidationFailed(INVALID_KEY, code="invalid", attr="key_id") from None
    except ProviderURLNotAllowed as error:
        raise ValidationFailed(error.message, code="invalid", attr="key_id") from None
    except ProviderError as error:
        await keys.mark_used(key.id)
        await end_transaction(service.session)
        raise UpstreamError(
            f"Could not list models from {adapter.display_name}: {error.message}",
            status_code=502,
            code="provider_error",
        ) from None
    # A provider listing a million models is cut to MAX_MODELS (curated ids first), so neither
    # the cached row nor the response grows with what the provider sends.
    live = order_live_models(provider, live)[: settings.max_models]
    await keys.cache_models(key.id, live, utcnow())
    return _entries(settings, provider, live)
