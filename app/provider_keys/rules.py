"""Pure provider-key rules: key formats, the state a stored key reads as, and which keys may
become the team's active key (SPEC §5.3, §5.6). No I/O here; masking lives in app/crypto.py."""

from __future__ import annotations

import re

from app.crypto import DecryptionError, SecretBox
from app.models import LLMProviderKey
from app.providers.base import KeyState
from app.web.errors import ValidationFailed

UNREADABLE = (
    "The stored API key cannot be decrypted with the configured encryption keys; "
    "enter the key again."
)
KEY_NOT_FOUND = "Key not found."

_FORMATS: dict[str, tuple[tuple[str, ...], str]] = {
    "openai": (
        ("sk-", "sk-proj-"),
        "Invalid OpenAI API key format. Key should start with 'sk-' or 'sk-proj-'.",
    ),
    "anthropic": (
        ("sk-ant-",),
        "Invalid Anthropic API key format. Key should start with 'sk-ant-'.",
    ),
}
_PRINTABLE_ASCII = re.compile(r"[\x21-\x7e]+")


def key_format_error(provider: str, api_key: str) -> str | None:
    """The format complaint for this provider's keys, or None (most providers have no format)."""
    if not _PRINTABLE_ASCII.fullmatch(api_key):
        # Keys travel in HTTP headers; real ones are printable ASCII without spaces.
        return "API key may contain only printable ASCII characters, without spaces."
    rule = _FORMATS.get(provider)
    if rule is None or api_key.startswith(rule[0]):
        return None
    return rule[1]


def check_key_format(provider: str, api_key: str) -> None:
    message = key_format_error(provider, api_key)
    if message is not None:
        raise ValidationFailed(message, code="invalid", attr="api_key")


def effective_state(box: SecretBox, key: LLMProviderKey) -> tuple[str, str | None]:
    """The key's (state, error_message); a key whose secret no configured encryption key can
    open reads as `error` (never a 500)."""
    try:
        box.decrypt(key.encrypted_api_key)
    except DecryptionError:
        return KeyState.ERROR.value, UNREADABLE
    return key.state, key.error_message


def check_activatable(state: str, *, attr: str, code: str | None = "invalid") -> None:
    """Only a key whose state is `ok` may become the team's active key."""
    if state != KeyState.OK.value:
        raise ValidationFailed(
            f"Cannot activate key with state '{state}'. Please validate the key first.",
            code=code,
            attr=attr,
        )
