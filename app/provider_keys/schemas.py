"""Request and response bodies of provider keys, key validations and models, the parsers of
their path and query values, and the one renderer of a stored key (`render_key`). The plaintext
key is only ever an input field; no response model has it."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, StringConstraints, WithJsonSchema, field_validator

from app.auth.users import UserBasic, render_user, user_row
from app.crypto import SecretBox
from app.models import LLMProviderKey
from app.provider_keys.rules import effective_state
from app.providers.names import ALLOWED_PROVIDERS, PROVIDERS, normalize_provider
from app.web.errors import APIErrorCarrier, NotFound, ValidationFailed
from app.web.schemas import APIModel, Timestamp

KeyStateName = Literal["unknown", "ok", "invalid", "error"]


def provider_choice(value: object) -> object:
    """`google` is stored as `gemini`; anything unknown names the allowed values."""
    if not isinstance(value, str):
        return value
    name = normalize_provider(value)
    if name not in PROVIDERS:
        raise APIErrorCarrier(
            f'"{value}" is not a valid choice. Must be one of: {ALLOWED_PROVIDERS}.',
            code="invalid_choice",
        )
    return name


def _blank_is_none(value: object) -> object:
    if isinstance(value, str):
        value = value.strip()
        return value or None
    return value


Provider = Annotated[str, BeforeValidator(provider_choice)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)]
ApiKey = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4096)]
Url = Annotated[
    Annotated[str, StringConstraints(max_length=2048)] | None, BeforeValidator(_blank_is_none)
]
ApiVersion = Annotated[
    Annotated[str, StringConstraints(max_length=64)] | None, BeforeValidator(_blank_is_none)
]


class ProviderKeyCreate(APIModel):
    provider: Provider = Field(description="One of " + ALLOWED_PROVIDERS + " (`google` → gemini).")
    name: Name
    api_key: ApiKey = Field(description="The provider's API key. Write-only: never returned.")
    set_as_active: bool = Field(
        default=False, description="Make this key the team's active key for evaluations."
    )
    base_url: Url = Field(default=None, description="openai_compatible: the server's API root.")
    azure_endpoint: Url = Field(default=None, description="azure_openai: the resource endpoint.")
    api_version: ApiVersion = Field(default=None, description="azure_openai: the API version.")

    @field_validator("api_key", mode="before")
    @classmethod
    def _api_key_present(cls, value: object) -> object:
        if value is None:
            raise APIErrorCarrier("This field may not be null.", code="null")
        return value


class ProviderKeyUpdate(APIModel):
    """PATCH: every field optional; `provider` cannot change (it is ignored)."""

    name: Name | None = None
    api_key: ApiKey | None = Field(default=None, description="A new key; validated live first.")
    set_as_active: bool | None = None
    base_url: Url = None
    azure_endpoint: Url = None
    api_version: ApiVersion = None


def _is_none(value: object) -> bool:
    return value is None


def _no_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


# Present only where the key has a value: PostHog's generated client types these as optional
# strings, so a `null` would break it (SPEC §5.3).
OmittedWhenEmpty = Annotated[
    str | None,
    WithJsonSchema({"type": "string"}),
    Field(default=None, exclude_if=_is_none, json_schema_extra=_no_default),
]


class ProviderKeyRead(APIModel):
    id: uuid.UUID
    provider: str
    name: str
    state: KeyStateName
    error_message: str | None
    api_key_masked: str
    set_as_active: bool = Field(description="True when this key is the team's active key.")
    created_at: Timestamp
    created_by: UserBasic | None
    last_used_at: Timestamp | None
    base_url: OmittedWhenEmpty
    azure_endpoint: OmittedWhenEmpty
    api_version: OmittedWhenEmpty
    azure_endpoint_display: str | None
    api_version_display: str | None


def render_key(box: SecretBox, key: LLMProviderKey, active_id: uuid.UUID | None) -> dict[str, Any]:
    """A stored key as `ProviderKeyRead` (its secret never leaves; an unreadable one reads as
    state `error`); `active_id` is the team's active key, to set `set_as_active`."""
    state, error_message = effective_state(box, key)
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


class KeyValidationRequest(APIModel):
    provider: Provider = "openai"
    api_key: str | None = Field(default=None, description="The key to check; not stored.")
    base_url: Url = None
    azure_endpoint: Url = None
    api_version: ApiVersion = None


class KeyValidationRead(APIModel):
    state: KeyStateName
    error_message: str | None


class ModelEntry(APIModel):
    id: str
    posthog_available: bool


class ModelList(APIModel):
    models: list[ModelEntry]


# --- path and query values parsed by hand, to word their errors like PostHog -----------------


def parse_key_id(raw: str) -> uuid.UUID:
    """A path id that is not a UUID names no key: 404, like any other unknown id."""
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise NotFound() from None


def checked_provider(raw: str) -> str:
    """The `provider` query value, canonical (`google` → `gemini`)."""
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
    """The optional `key_id` query value: absent or empty means none."""
    if raw is None or raw == "":
        return None
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise ValidationFailed("Must be a valid UUID.", code="invalid", attr="key_id") from None
