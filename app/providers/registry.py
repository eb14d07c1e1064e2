"""Provider names (app/providers/names.py) → adapters, and building Credentials from settings
plus a key's fields."""

from __future__ import annotations

from app.providers.anthropic import AnthropicAdapter
from app.providers.azure_openai import DEFAULT_API_VERSION, AzureOpenAIAdapter
from app.providers.base import Credentials, ProviderAdapter
from app.providers.gemini import GeminiAdapter
from app.providers.names import normalize_provider
from app.providers.openai_style import OpenAIStyleAdapter
from app.settings import Settings

_ADAPTERS: dict[str, ProviderAdapter] = {
    "openai": OpenAIStyleAdapter("OpenAI", token_param="max_completion_tokens"),
    "anthropic": AnthropicAdapter(),
    "gemini": GeminiAdapter(),
    "openrouter": OpenAIStyleAdapter("OpenRouter"),
    "fireworks": OpenAIStyleAdapter("Fireworks"),
    "together_ai": OpenAIStyleAdapter("Together AI"),
    "azure_openai": AzureOpenAIAdapter(),
    "openai_compatible": OpenAIStyleAdapter("OpenAI-compatible server"),
}


class UnknownProvider(ValueError):
    pass


def get_adapter(provider: str) -> ProviderAdapter:
    try:
        return _ADAPTERS[normalize_provider(provider)]
    except KeyError:
        raise UnknownProvider(provider) from None


def hosted_base_url(settings: Settings, provider: str) -> str | None:
    """The operator-configured API root of a hosted provider (SPEC §6)."""
    urls = {
        "openai": settings.openai_base_url,
        "anthropic": settings.anthropic_base_url,
        "gemini": settings.gemini_base_url,
        "openrouter": settings.openrouter_base_url,
        "fireworks": settings.fireworks_base_url,
        "together_ai": settings.together_base_url,
    }
    return urls.get(provider)


def credentials_for(
    settings: Settings,
    provider: str,
    api_key: str,
    *,
    base_url: str | None = None,
    azure_endpoint: str | None = None,
    api_version: str | None = None,
) -> Credentials:
    provider = normalize_provider(provider)
    if provider not in _ADAPTERS:
        raise UnknownProvider(provider)
    if provider == "azure_openai":
        return Credentials(
            provider=provider,
            api_key=api_key,
            azure_endpoint=(azure_endpoint or "").rstrip("/") or None,
            api_version=api_version or DEFAULT_API_VERSION,
            public_only=not settings.allow_private_provider_urls,
        )
    if provider == "openai_compatible":
        return Credentials(
            provider=provider,
            api_key=api_key,
            base_url=(base_url or "").rstrip("/") or None,
            public_only=not settings.allow_private_provider_urls,
        )
    return Credentials(
        provider=provider, api_key=api_key, base_url=hosted_base_url(settings, provider)
    )
