"""Anthropic's Messages API: `GET /v1/models` and structured output through a forced tool call
whose `input_schema` is the requested schema (the tool's input is the answer)."""

from __future__ import annotations

from typing import Any

import httpx

from app.providers.base import (
    Credentials,
    KeyCheck,
    ProviderBadResponse,
    StructuredRequest,
)
from app.providers.wire import check_key, json_body, model_ids, record_usage, send

NAME = "Anthropic"
API_VERSION = "2023-06-01"
# Anthropic pages model lists; a handful of pages is far more than it has ever listed.
MAX_PAGES = 5


class AnthropicAdapter:
    display_name = NAME

    def _headers(self, credentials: Credentials) -> dict[str, str]:
        return {"x-api-key": credentials.api_key, "anthropic-version": API_VERSION}

    async def _models_page(
        self, client: httpx.AsyncClient, credentials: Credentials, after_id: str | None = None
    ) -> Any:
        params = {"limit": "1000"}
        if after_id:
            params["after_id"] = after_id
        response = await send(
            client,
            credentials,
            NAME,
            "GET",
            f"{credentials.endpoint}/v1/models",
            headers=self._headers(credentials),
            params=params,
        )
        return json_body(response, NAME)

    async def validate_key(self, client: httpx.AsyncClient, credentials: Credentials) -> KeyCheck:
        return await check_key(self._models_page(client, credentials), NAME)

    async def list_models(self, client: httpx.AsyncClient, credentials: Credentials) -> list[str]:
        ids: list[str] = []
        after_id: str | None = None
        for _ in range(MAX_PAGES):
            body = await self._models_page(client, credentials, after_id)
            if not isinstance(body, dict):
                raise ProviderBadResponse(f"{NAME} returned a model list in an unexpected shape")
            ids.extend(model_ids(body.get("data"), NAME))
            after_id = body.get("last_id")
            if not body.get("has_more") or not isinstance(after_id, str):
                break
        return ids

    async def complete_json(
        self, client: httpx.AsyncClient, credentials: Credentials, request: StructuredRequest
    ) -> dict[str, Any]:
        body = {
            "model": request.model,
            "max_tokens": request.max_output_tokens,
            "system": request.system,
            "messages": [{"role": "user", "content": request.user}],
            "tools": [
                {
                    "name": request.schema_name,
                    "description": "Record the answer. Call this tool exactly once.",
                    "input_schema": request.schema,
                }
            ],
            "tool_choice": {"type": "tool", "name": request.schema_name},
            **({} if request.temperature is None else {"temperature": request.temperature}),
        }
        response = await send(
            client,
            credentials,
            NAME,
            "POST",
            f"{credentials.endpoint}/v1/messages",
            headers=self._headers(credentials),
            body=body,
            request_timeout=request.timeout,
        )
        answer = json_body(response, NAME)
        record_usage(request, answer)
        content = answer.get("content") if isinstance(answer, dict) else None
        for block in content if isinstance(content, list) else []:
            if isinstance(block, dict) and block.get("type") == "tool_use":
                tool_input = block.get("input")
                if isinstance(tool_input, dict):
                    return tool_input
                raise ProviderBadResponse(f"{NAME} returned a tool call without an object")
        raise ProviderBadResponse(f"{NAME} did not return the structured answer")
