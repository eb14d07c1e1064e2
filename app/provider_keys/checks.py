"""Input rules checked before any provider call: key formats, and the extra connection fields
(Azure endpoint host rule, http(s) only, the SSRF guard) of SPEC §5.3 and §6."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from app.providers.azure_openai import DEFAULT_API_VERSION
from app.providers.client import UnsafeURLError, check_url_syntax, ensure_public_url
from app.settings import Settings
from app.web.errors import ValidationFailed

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
AZURE_HOST_SUFFIXES = (".openai.azure.com", ".cognitiveservices.azure.com")
AZURE_HOST_MESSAGE = (
    "Enter your Azure OpenAI endpoint, e.g. https://<resource>.openai.azure.com "
    "or https://<resource>.cognitiveservices.azure.com."
)


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


@dataclass(frozen=True)
class Connection:
    """A key's non-secret connection fields; all None for the hosted providers."""

    base_url: str | None = None
    azure_endpoint: str | None = None
    api_version: str | None = None


def _required(attr: str) -> ValidationFailed:
    return ValidationFailed("This field is required.", code="required", attr=attr)


async def _checked_url(settings: Settings, url: str, attr: str, *, azure: bool) -> str:
    try:
        host = check_url_syntax(url)
    except UnsafeURLError as exc:
        raise ValidationFailed(str(exc), code="invalid", attr=attr) from None
    if settings.allow_private_provider_urls:
        # Tests and self-hosted gateways: any http(s) endpoint goes.
        return url.rstrip("/")
    if azure and (
        urlsplit(url).scheme != "https" or not host.lower().endswith(AZURE_HOST_SUFFIXES)
    ):
        raise ValidationFailed(AZURE_HOST_MESSAGE, code="invalid", attr=attr)
    try:
        await ensure_public_url(url)
    except UnsafeURLError as exc:
        raise ValidationFailed(str(exc), code="invalid", attr=attr) from None
    return url.rstrip("/")


async def checked_connection(
    settings: Settings,
    provider: str,
    *,
    base_url: str | None,
    azure_endpoint: str | None,
    api_version: str | None,
) -> Connection:
    """The connection fields this provider uses, checked; fields of other providers dropped."""
    if provider == "azure_openai":
        if not azure_endpoint:
            raise _required("azure_endpoint")
        endpoint = await _checked_url(settings, azure_endpoint, "azure_endpoint", azure=True)
        return Connection(azure_endpoint=endpoint, api_version=api_version or DEFAULT_API_VERSION)
    if provider == "openai_compatible":
        if not base_url:
            raise _required("base_url")
        return Connection(base_url=await _checked_url(settings, base_url, "base_url", azure=False))
    return Connection()
