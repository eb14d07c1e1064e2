"""The curated model lists (SPEC §5.5): small, current and kept by hand, one per provider.

Shown without a key, put first in a key's live list when the key can reach them, and the
models the operator's default key may be used with (`posthog_available`). Azure and
OpenAI-compatible servers name their own deployments, so nothing is curated for them.
"""

from __future__ import annotations

from collections.abc import Iterable

CURATED_MODELS: dict[str, tuple[str, ...]] = {
    "openai": (
        "gpt-5",
        "gpt-5-mini",
        "gpt-5-nano",
        "gpt-4.1",
        "gpt-4.1-mini",
        "gpt-4.1-nano",
        "gpt-4o",
        "gpt-4o-mini",
        "o3",
        "o4-mini",
    ),
    "anthropic": (
        "claude-opus-4-5",
        "claude-sonnet-4-5",
        "claude-haiku-4-5",
        "claude-opus-4-1",
        "claude-sonnet-4-0",
        "claude-3-7-sonnet-latest",
    ),
    "gemini": (
        "gemini-2.5-pro",
        "gemini-2.5-flash",
        "gemini-2.5-flash-lite",
        "gemini-2.0-flash",
    ),
    "openrouter": (
        "openai/gpt-4.1-mini",
        "openai/gpt-5-mini",
        "anthropic/claude-sonnet-4.5",
        "google/gemini-2.5-flash",
        "meta-llama/llama-3.3-70b-instruct",
        "deepseek/deepseek-chat-v3.1",
    ),
    "fireworks": (
        "accounts/fireworks/models/llama-v3p3-70b-instruct",
        "accounts/fireworks/models/llama4-maverick-instruct-basic",
        "accounts/fireworks/models/deepseek-v3p1",
        "accounts/fireworks/models/qwen3-235b-a22b",
        "accounts/fireworks/models/gpt-oss-120b",
    ),
    "together_ai": (
        "meta-llama/Llama-3.3-70B-Instruct-Turbo",
        "meta-llama/Llama-4-Maverick-17B-128E-Instruct-FP8",
        "deepseek-ai/DeepSeek-V3",
        "Qwen/Qwen2.5-72B-Instruct-Turbo",
        "openai/gpt-oss-120b",
    ),
    "azure_openai": (),
    "openai_compatible": (),
}


def curated_models(provider: str) -> list[str]:
    return list(CURATED_MODELS.get(provider, ()))


def order_live_models(provider: str, live: Iterable[str]) -> list[str]:
    """Exactly the live list, deduplicated: its curated ids first (in curated order), then the
    rest sorted by id. A curated model the key cannot reach is left out."""
    reachable = set(live)
    curated = [model for model in curated_models(provider) if model in reachable]
    return curated + sorted(reachable.difference(curated))
