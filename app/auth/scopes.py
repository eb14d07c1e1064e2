"""The scope vocabulary of personal API keys; `write` implies `read`, `*` implies all."""

from __future__ import annotations

from collections.abc import Iterable

RESOURCES = ("dataset", "llm_provider_key", "llm_analytics", "evaluation")
ALL_SCOPES = frozenset(
    {f"{resource}:{action}" for resource in RESOURCES for action in ("read", "write")}
)


def is_valid_scope(scope: str) -> bool:
    return scope == "*" or scope in ALL_SCOPES


def has_scope(granted: Iterable[str], required: str) -> bool:
    granted = set(granted)
    if "*" in granted or required in granted:
        return True
    resource, _, action = required.partition(":")
    return action == "read" and f"{resource}:write" in granted


def parse_scopes(text: str) -> list[str]:
    """Parse a comma-separated list (`--scopes`); raises ValueError naming a bad scope."""
    scopes = [part.strip() for part in text.split(",") if part.strip()]
    if not scopes:
        raise ValueError("at least one scope is required")
    for scope in scopes:
        if not is_valid_scope(scope):
            allowed = ", ".join(["*", *sorted(ALL_SCOPES)])
            raise ValueError(f"unknown scope {scope!r}; allowed: {allowed}")
    return scopes
