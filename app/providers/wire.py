"""What every adapter shares: one guarded request, HTTP status → ProviderError, the SPEC §6
validation outcome, and pulling a JSON object out of a model's text answer."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Awaitable
from typing import Any

import httpx

from app import metrics
from app.providers.base import (
    Credentials,
    KeyCheck,
    KeyState,
    ProviderAuthError,
    ProviderBadResponse,
    ProviderError,
    ProviderRateLimited,
    ProviderTimeout,
    ProviderUnavailable,
    ProviderURLNotAllowed,
    StructuredRequest,
)
from app.providers.client import UnsafeURLError, call_limits, ensure_public_url, pin_extension

INVALID_KEY = "Invalid API key"
RATE_LIMITED = "Rate limited, please try again later"
_FENCE = re.compile(r"^\s*```(?:json)?\s*(.*?)\s*```\s*$", re.DOTALL)


def _scrub(text: str, credentials: Credentials) -> str:
    """Provider messages sometimes quote the key back; never let it through."""
    if credentials.api_key:
        text = text.replace(credentials.api_key, "[redacted]")
    return text[:300]


def provider_message(response: httpx.Response, credentials: Credentials) -> str | None:
    """The provider's own error text, when it gave one (OpenAI/Anthropic/Gemini shapes)."""
    try:
        body = response.json()
    except ValueError:
        return None
    error = body.get("error") if isinstance(body, dict) else None
    message = error.get("message") if isinstance(error, dict) else error
    if not isinstance(message, str) and isinstance(body, dict):
        message = body.get("message") or body.get("detail")
    return _scrub(message, credentials) if isinstance(message, str) and message else None


def retry_after(response: httpx.Response) -> float | None:
    """Seconds the provider asks us to wait (`Retry-After` in seconds; dates are ignored)."""
    try:
        value = float(response.headers.get("retry-after", ""))
    except ValueError:
        return None
    return value if value >= 0 else None


def record_usage(request: StructuredRequest, body: Any) -> None:
    """Copy the tokens a completion reports into `request.usage` (every wire protocol's shape:
    OpenAI `usage.prompt_tokens`, Anthropic `usage.input_tokens`, Gemini `usageMetadata`)."""
    if request.usage is None or not isinstance(body, dict):
        return
    usage = body.get("usage") or body.get("usageMetadata")
    if not isinstance(usage, dict):
        return
    for field, names in (
        ("input_tokens", ("prompt_tokens", "input_tokens", "promptTokenCount")),
        ("output_tokens", ("completion_tokens", "output_tokens", "candidatesTokenCount")),
    ):
        for name in names:
            if isinstance(usage.get(name), int):
                setattr(request.usage, field, usage[name])
                break


def raise_for_status(response: httpx.Response, credentials: Credentials, name: str) -> None:
    status = response.status_code
    if status < 300:
        return
    if status in (401, 403):
        raise ProviderAuthError(INVALID_KEY, status_code=status)
    if status == 429:
        raise ProviderRateLimited(
            RATE_LIMITED, status_code=status, retry_after=retry_after(response)
        )
    if status >= 500:
        raise ProviderUnavailable(f"{name} is unavailable (HTTP {status})", status_code=status)
    detail = provider_message(response, credentials)
    suffix = f": {detail}" if detail else ""
    raise ProviderError(f"{name} rejected the request (HTTP {status}){suffix}", status_code=status)


async def send(
    client: httpx.AsyncClient,
    credentials: Credentials,
    name: str,
    method: str,
    url: str,
    *,
    headers: dict[str, str],
    params: dict[str, str] | None = None,
    body: dict[str, Any] | None = None,
    request_timeout: float | None = None,
    check_status: bool = True,
) -> httpx.Response:
    """One provider call; transport failures become ProviderError, never an httpx exception."""
    deadline, max_bytes = call_limits(client)
    extra: dict[str, Any] = {}
    if request_timeout is not None:
        # A completion may think longer than PROVIDER_TIMEOUT_SECONDS between bytes.
        deadline = request_timeout
        extra["timeout"] = httpx.Timeout(request_timeout)
    started = time.perf_counter()
    outcome = "aborted"  # cancelled (client gone) or an unexpected error
    try:
        # The deadline covers the whole call (the URL check's lookup and the body included):
        # httpx's own timeouts count per read.
        async with asyncio.timeout(deadline):
            if credentials.public_only:
                try:
                    addresses = await ensure_public_url(url)
                except UnsafeURLError as exc:
                    outcome = "invalid_request"
                    raise ProviderURLNotAllowed(str(exc)) from None
                # Connect to what was just checked: no second lookup, no rebinding window.
                extra["extensions"] = pin_extension(url, addresses)
            response = await _capped_request(
                client,
                name,
                max_bytes,
                method,
                url,
                headers=headers,
                params=params,
                json=body,
                **extra,
            )
        outcome = _outcome(response.status_code)
    except (TimeoutError, httpx.TimeoutException):
        outcome = "timeout"
        raise ProviderTimeout(f"{name} did not answer in time") from None
    except httpx.HTTPError:
        # Connection refused, DNS failure, TLS, protocol errors: the provider is unreachable.
        outcome = "connection_error"
        raise ProviderUnavailable(f"Could not connect to {name}") from None
    except (httpx.InvalidURL, UnicodeError):
        # A key or URL that cannot be put on the wire (e.g. non-ASCII in a header).
        outcome = "invalid_request"
        raise ProviderError(f"Could not build a request to {name}: invalid characters") from None
    finally:
        metrics.PROVIDER_CALLS.labels(credentials.provider, outcome).inc()
        metrics.PROVIDER_LATENCY.labels(credentials.provider).observe(time.perf_counter() - started)
    if check_status:
        raise_for_status(response, credentials, name)
    return response


def _outcome(status: int) -> str:
    """The `outcome` label of a call that got an answer (see `app.metrics.PROVIDER_CALLS`)."""
    if status < 300:
        return "ok"
    if status in (401, 403):
        return "auth_error"
    if status == 429:
        return "rate_limited"
    return "server_error" if status >= 500 else "client_error"


# Describe the body as it was, not as it travelled: it is already decoded and complete.
_TRANSFER_HEADERS = frozenset({"content-encoding", "content-length", "transfer-encoding"})


async def _capped_request(
    client: httpx.AsyncClient, name: str, max_bytes: int, method: str, url: str, **kwargs: Any
) -> httpx.Response:
    """The response, its (decoded) body read in full unless it grows past `max_bytes`."""
    async with client.stream(method, url, **kwargs) as streamed:
        chunks: list[bytes] = []
        size = 0
        async for chunk in streamed.aiter_bytes():
            size += len(chunk)
            if size > max_bytes:
                raise ProviderBadResponse(
                    f"{name} sent a response larger than {max_bytes} bytes; it was not read"
                )
            chunks.append(chunk)
    headers = [(k, v) for k, v in streamed.headers.items() if k.lower() not in _TRANSFER_HEADERS]
    return httpx.Response(
        streamed.status_code, headers=headers, content=b"".join(chunks), request=streamed.request
    )


def json_body(response: httpx.Response, name: str) -> Any:
    try:
        return response.json()
    except ValueError:
        raise ProviderBadResponse(f"{name} returned a response that is not JSON") from None


async def check_key(probe: Awaitable[Any], name: str) -> KeyCheck:
    """Validate a key by awaiting a cheap authenticated call (listing models)."""
    try:
        await probe
    except ProviderError as error:
        return key_check_from(error, name)
    return KeyCheck(KeyState.OK)


def key_check_from(error: ProviderError, name: str) -> KeyCheck:
    """SPEC §6's validation outcome for a failed call."""
    if isinstance(error, ProviderAuthError):
        return KeyCheck(KeyState.INVALID, INVALID_KEY)
    if isinstance(error, ProviderRateLimited):
        return KeyCheck(KeyState.ERROR, RATE_LIMITED)
    if isinstance(error, ProviderTimeout) or (
        isinstance(error, ProviderUnavailable) and error.status_code is None
    ):
        return KeyCheck(KeyState.ERROR, f"Could not connect to {name}")
    return KeyCheck(KeyState.ERROR, error.message)


def parse_json_object(text: str, name: str) -> dict[str, Any]:
    """The JSON object in a model's text answer (tolerating a ```json fence around it)."""
    match = _FENCE.match(text)
    if match:
        text = match.group(1)
    try:
        value = json.loads(text)
    except ValueError:
        raise ProviderBadResponse(f"{name} answered with text that is not valid JSON") from None
    if not isinstance(value, dict):
        raise ProviderBadResponse(f"{name} answered with JSON that is not an object")
    return value


def model_ids(entries: Any, name: str, *, field: str = "id") -> list[str]:
    """Ids from a provider's list of model objects."""
    if not isinstance(entries, list):
        raise ProviderBadResponse(f"{name} returned a model list in an unexpected shape")
    return [
        entry[field]
        for entry in entries
        if isinstance(entry, dict) and isinstance(entry.get(field), str)
    ]
