"""The provider vocabulary has one home (app/providers/names.py): everything else agrees with it."""

from __future__ import annotations

from typing import get_args

import pytest

from app.providers import registry
from app.providers.catalog import CURATED_MODELS
from app.providers.names import (
    ALIASES,
    PROVIDERS,
    accepted_names,
    normalize_provider,
    resolve_alias,
)
from app.settings import LLMProviderName, Settings
from app.web.openapi import PROVIDER_VALUES


def test_settings_literal_lists_the_same_providers() -> None:
    assert get_args(LLMProviderName) == PROVIDERS


def test_every_provider_has_an_adapter_and_a_curated_list() -> None:
    assert tuple(registry._ADAPTERS) == PROVIDERS
    assert tuple(CURATED_MODELS) == PROVIDERS


def test_aliases_name_known_providers() -> None:
    assert ALIASES == {"google": "gemini"}
    assert set(ALIASES.values()) <= set(PROVIDERS)
    assert not set(ALIASES) & set(PROVIDERS)


def test_the_document_enum_is_every_accepted_name() -> None:
    assert accepted_names() == PROVIDER_VALUES
    assert accepted_names()[:4] == ["openai", "anthropic", "gemini", "google"]
    assert len(accepted_names()) == len(PROVIDERS) + len(ALIASES)


@pytest.mark.parametrize(
    ("raw", "normalized", "resolved"),
    [
        ("google", "gemini", "gemini"),
        (" Google ", "gemini", " Google "),
        ("OpenAI", "openai", "OpenAI"),
        ("nope", "nope", "nope"),
    ],
)
def test_normalize_and_resolve(raw: str, normalized: str, resolved: str) -> None:
    # normalize: query values, forgiving; resolve: body fields, aliases only (the Literal or
    # the choice check judges the rest).
    assert normalize_provider(raw) == normalized
    assert resolve_alias(raw) == resolved
    assert resolve_alias(None) is None


def test_settings_read_the_alias() -> None:
    settings = Settings(_env_file=None, default_llm_provider="google")  # type: ignore[call-arg]
    assert settings.default_llm_provider == "gemini"
