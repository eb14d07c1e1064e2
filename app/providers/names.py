"""The one list of LLM provider names and the aliases clients may use for them (`google` →
`gemini`). Settings, request schemas, the OpenAPI enums and the adapter registry all read it."""

from __future__ import annotations

PROVIDERS: tuple[str, ...] = (
    "openai",
    "anthropic",
    "gemini",
    "openrouter",
    "fireworks",
    "together_ai",
    "azure_openai",
    "openai_compatible",
)
ALIASES: dict[str, str] = {"google": "gemini"}
# Wording of the invalid-choice errors: "Must be one of: openai, anthropic, …".
ALLOWED_PROVIDERS = ", ".join(PROVIDERS)


def normalize_provider(name: str) -> str:
    """The canonical provider name (`google` → `gemini`); unknown names pass through unchanged."""
    cleaned = name.strip().lower()
    return ALIASES.get(cleaned, cleaned)


def resolve_alias(value: object) -> object:
    """An alias replaced by the name it stands for; anything else (unknown names, spacing,
    other types) is left for the field's own validation to judge."""
    if isinstance(value, str):
        return ALIASES.get(value, value)
    return value


def accepted_names() -> list[str]:
    """Every name a client may send: each provider followed by its aliases."""
    return [
        name
        for provider in PROVIDERS
        for name in (provider, *(alias for alias, target in ALIASES.items() if target == provider))
    ]
