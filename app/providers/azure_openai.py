"""Azure OpenAI: the OpenAI chat protocol on a customer's resource, addressed by deployment,
authenticated with an `api-key` header and versioned by the `api-version` query parameter."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx

from app.providers.base import Credentials, KeyCheck, StructuredRequest
from app.providers.openai_style import chat_answer, chat_body
from app.providers.wire import check_key, json_body, model_ids, record_usage, send

# The newest generally-available data-plane version when the key does not name one.
DEFAULT_API_VERSION = "2024-10-21"
NAME = "Azure OpenAI"


class AzureOpenAIAdapter:
    display_name = NAME

    def _params(self, credentials: Credentials) -> dict[str, str]:
        return {"api-version": credentials.api_version or DEFAULT_API_VERSION}

    def _headers(self, credentials: Credentials) -> dict[str, str]:
        return {"api-key": credentials.api_key}

    async def _models(self, client: httpx.AsyncClient, credentials: Credentials) -> Any:
        response = await send(
            client,
            credentials,
            NAME,
            "GET",
            f"{credentials.endpoint}/openai/models",
            headers=self._headers(credentials),
            params=self._params(credentials),
        )
        return json_body(response, NAME)

    async def validate_key(self, client: httpx.AsyncClient, credentials: Credentials) -> KeyCheck:
        return await check_key(self._models(client, credentials), NAME)

    async def list_models(self, client: httpx.AsyncClient, credentials: Credentials) -> list[str]:
        body = await self._models(client, credentials)
        return model_ids(body.get("data") if isinstance(body, dict) else None, NAME)

    async def complete_json(
        self, client: httpx.AsyncClient, credentials: Credentials, request: StructuredRequest
    ) -> dict[str, Any]:
        # On Azure the "model" is the deployment name, and it lives in the path.
        deployment = quote(request.model, safe="")
        response = await send(
            client,
            credentials,
            NAME,
            "POST",
            f"{credentials.endpoint}/openai/deployments/{deployment}/chat/completions",
            headers=self._headers(credentials),
            params=self._params(credentials),
            body=chat_body(request, token_param="max_completion_tokens"),
            request_timeout=request.timeout,
        )
        answer = json_body(response, NAME)
        record_usage(request, answer)
        return chat_answer(answer, NAME)
