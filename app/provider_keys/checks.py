"""Connection fields checked before any provider call (SPEC §5.3, §6): the Azure endpoint host
rule, http(s) only, and the SSRF guard, which may resolve DNS. Key formats are in rules.py."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from app.providers.azure_openai import DEFAULT_API_VERSION
from app.providers.client import UnsafeURLError, check_url_syntax, ensure_public_url
from app.settings import Settings
from app.web.errors import ValidationFailed

AZURE_HOST_SUFFIXES = (".openai.azure.com", ".cognitiveservices.azure.com")
AZURE_HOST_MESSAGE = (
    "Enter your Azure OpenAI endpoint, e.g. https://<resource>.openai.azure.com "
    "or https://<resource>.cognitiveservices.azure.com."
)


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


async def checked_connection(settings: Settings, provider: str, asked: Connection) -> Connection:
    """The connection fields this provider uses, checked; fields of other providers dropped."""
    if provider == "azure_openai":
        if not asked.azure_endpoint:
            raise _required("azure_endpoint")
        endpoint = await _checked_url(settings, asked.azure_endpoint, "azure_endpoint", azure=True)
        return Connection(
            azure_endpoint=endpoint, api_version=asked.api_version or DEFAULT_API_VERSION
        )
    if provider == "openai_compatible":
        if not asked.base_url:
            raise _required("base_url")
        base_url = await _checked_url(settings, asked.base_url, "base_url", azure=False)
        return Connection(base_url=base_url)
    return Connection()
