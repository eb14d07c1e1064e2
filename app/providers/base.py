"""The provider interface, its outcomes and its exception hierarchy.

ProviderError                  any failed provider call (never carries the API key)
├── ProviderAuthError          401/403 (or Gemini's 400 API_KEY_INVALID): the key is bad
├── ProviderRateLimited        429 from the provider
├── ProviderTimeout            connect/read timeout
├── ProviderUnavailable        5xx, connection refused, DNS failure
├── ProviderBadResponse        2xx whose body is not what the protocol promises
└── ProviderURLNotAllowed      the user-supplied URL failed the SSRF guard at call time
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

import httpx


class KeyState(StrEnum):
    UNKNOWN = "unknown"
    OK = "ok"
    INVALID = "invalid"
    ERROR = "error"


@dataclass(frozen=True)
class KeyCheck:
    """Outcome of a live key validation; `error_message` is None when the state is ok."""

    state: KeyState
    error_message: str | None = None


@dataclass(frozen=True)
class Credentials:
    """What an adapter needs to call a provider. `repr` never shows the key."""

    provider: str
    api_key: str = field(repr=False)
    base_url: str | None = None  # openai_compatible
    azure_endpoint: str | None = None  # azure_openai
    api_version: str | None = None  # azure_openai
    # True when the URL came from a user and private addresses are not allowed: adapters then
    # re-run the SSRF guard before every call (DNS may have changed since the key was saved).
    public_only: bool = False

    @property
    def endpoint(self) -> str:
        """The base every request path is joined to (the Azure resource, or the API base)."""
        return (self.azure_endpoint or self.base_url or "").rstrip("/")


class ProviderError(Exception):
    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code


class ProviderAuthError(ProviderError):
    pass


class ProviderRateLimited(ProviderError):
    def __init__(
        self, message: str, *, status_code: int | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message, status_code=status_code)
        self.retry_after = retry_after  # seconds, from the provider's Retry-After header


class ProviderTimeout(ProviderError):
    pass


class ProviderUnavailable(ProviderError):
    pass


class ProviderBadResponse(ProviderError):
    pass


class ProviderURLNotAllowed(ProviderError):
    pass


@dataclass
class Usage:
    """Tokens a completion spent, as the provider reported them (None when it did not)."""

    input_tokens: int | None = None
    output_tokens: int | None = None


@dataclass(frozen=True)
class StructuredRequest:
    """A completion whose answer must be one JSON object matching `schema`."""

    model: str
    system: str
    user: str
    schema: dict[str, Any]
    schema_name: str = "result"
    max_output_tokens: int = 4096
    timeout: float | None = None
    # OpenAI-style strict mode needs every property required and additionalProperties false.
    strict: bool = True
    # Filled in by the adapter when given: the caller's view of the tokens spent.
    usage: Usage | None = field(default=None, compare=False)
    temperature: float | None = None


class ProviderAdapter(Protocol):
    """One wire protocol. Adapters get the shared client; they never log the key."""

    display_name: str

    async def validate_key(self, client: httpx.AsyncClient, credentials: Credentials) -> KeyCheck:
        """Map the provider's answer to ok/invalid/error (SPEC §6); never raises ProviderError."""
        ...

    async def list_models(self, client: httpx.AsyncClient, credentials: Credentials) -> list[str]:
        """Model ids the key can use; raises ProviderError subclasses."""
        ...

    async def complete_json(
        self, client: httpx.AsyncClient, credentials: Credentials, request: StructuredRequest
    ) -> dict[str, Any]:
        """The model's JSON object (parsed, not yet checked against the schema).

        Raises ProviderBadResponse when the answer is not a JSON object.
        """
        ...
