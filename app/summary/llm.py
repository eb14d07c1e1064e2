"""One summary from the provider: the structured call, one retry, provider failures → 502/504.

Unusable output and a provider 5xx or connect error are retried once; a timeout is not (the
request's time is spent), nor are 429s and rejected keys (a retry would only fail again).
"""

from __future__ import annotations

import asyncio
import logging
import time

import httpx

from app.providers.base import (
    Credentials,
    ProviderAuthError,
    ProviderBadResponse,
    ProviderError,
    ProviderRateLimited,
    ProviderTimeout,
    ProviderUnavailable,
    StructuredRequest,
)
from app.providers.registry import get_adapter
from app.settings import Settings
from app.summary.answer import SUMMARY_SCHEMA, ModelAnswer, UnusableAnswer, parse_answer
from app.summary.prompt import Prompt
from app.web.errors import UpstreamError

logger = logging.getLogger("app.summary")

MAX_OUTPUT_TOKENS = 4096
ATTEMPTS = 2


def timed_out(what: str, settings: Settings) -> UpstreamError:
    return UpstreamError(
        f"{what} did not finish within {settings.summary_timeout_seconds:g} seconds; "
        "please try again later.",
        status_code=504,
        code="provider_timeout",
    )


def _retry_note(reason: str) -> str:
    return (
        f"\n\nYour previous answer was rejected ({reason}). Answer again with exactly one "
        "JSON object that matches the schema."
    )


async def ask_for_summary(
    client: httpx.AsyncClient,
    credentials: Credentials,
    model: str,
    prompt: Prompt,
    deadline: float,
    settings: Settings,
) -> ModelAnswer:
    """The model's checked answer, or an UpstreamError (502, or 504 on timeout)."""
    adapter = get_adapter(credentials.provider)
    name = f"The LLM provider ({adapter.display_name})"
    user = prompt.user
    failure = UpstreamError(f"{name} failed to produce a summary.", code="provider_error")
    for attempt in range(1, ATTEMPTS + 1):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise timed_out(name, settings)
        request = StructuredRequest(
            model=model,
            system=prompt.system,
            user=user,
            schema=SUMMARY_SCHEMA,
            schema_name="evaluation_summary",
            max_output_tokens=MAX_OUTPUT_TOKENS,
            timeout=remaining,
        )
        try:
            async with asyncio.timeout(remaining):
                raw = await adapter.complete_json(client, credentials, request)
            return parse_answer(raw)
        except (TimeoutError, ProviderTimeout):
            raise timed_out(name, settings) from None
        except ProviderRateLimited:
            raise UpstreamError(
                f"{name} is rate limiting requests; please try again later.",
                code="provider_rate_limited",
            ) from None
        except ProviderAuthError:
            raise UpstreamError(
                f"{name} rejected the API key; check the team's provider key.",
                code="provider_auth_failed",
            ) from None
        except ProviderUnavailable as exc:
            failure = UpstreamError(exc.message, code="provider_unavailable")
        except ProviderBadResponse as exc:
            failure = UpstreamError(
                f"{name} returned an unusable summary: {exc.message}.", code="provider_bad_output"
            )
            user = prompt.user + _retry_note("it was not a single JSON object")
        except UnusableAnswer as exc:
            failure = UpstreamError(
                f"{name} returned a summary that does not match the schema ({exc.reason}).",
                code="provider_bad_output",
            )
            user = prompt.user + _retry_note(exc.reason)
        except ProviderError as exc:
            raise UpstreamError(exc.message, code="provider_error") from None
        logger.warning(
            "summary attempt failed",
            extra={"provider": credentials.provider, "attempt": attempt, "error": failure.code},
        )
    raise failure
