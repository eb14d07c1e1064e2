"""OpenAI's wire protocol, spoken by openai, openrouter, fireworks, together_ai and any
OpenAI-compatible server (vLLM, Ollama, LM Studio…): `GET /models`, `POST /chat/completions`."""

from __future__ import annotations

from typing import Any

import httpx

from app.providers.base import (
    Credentials,
    KeyCheck,
    ProviderBadResponse,
    StructuredRequest,
)
from app.providers.wire import (
    check_key,
    json_body,
    model_ids,
    parse_json_object,
    record_usage,
    send,
)


def chat_body(request: StructuredRequest, *, token_param: str) -> dict[str, Any]:
    """A chat completion that must answer with one object matching the request's schema."""
    return {
        "messages": [
            {"role": "system", "content": request.system},
            {"role": "user", "content": request.user},
        ],
        "response_format": {
            "type": "json_schema",
            "json_schema": {
                "name": request.schema_name,
                "schema": request.schema,
                "strict": request.strict,
            },
        },
        token_param: request.max_output_tokens,
        **({} if request.temperature is None else {"temperature": request.temperature}),
    }


def chat_answer(body: Any, name: str) -> dict[str, Any]:
    """The JSON object in `choices[0].message.content`."""
    try:
        message = body["choices"][0]["message"]
    except (KeyError, IndexError, TypeError):
        raise ProviderBadResponse(f"{name} returned no completion") from None
    if not isinstance(message, dict):
        raise ProviderBadResponse(f"{name} returned no completion")
    content = message.get("content")
    if not isinstance(content, str) or not content.strip():
        if message.get("refusal"):
            raise ProviderBadResponse(f"{name} refused to answer")
        raise ProviderBadResponse(f"{name} returned an empty completion")
    return parse_json_object(content, name)


class OpenAIStyleAdapter:
    """`credentials.base_url` is the API root including its version (`…/v1`)."""

    def __init__(self, display_name: str, *, token_param: str = "max_tokens") -> None:
        self.display_name = display_name
        # OpenAI's reasoning models refuse `max_tokens`; other servers only know `max_tokens`.
        self.token_param = token_param

    def _headers(self, credentials: Credentials) -> dict[str, str]:
        return {"Authorization": f"Bearer {credentials.api_key}"}

    async def _models(self, client: httpx.AsyncClient, credentials: Credentials) -> Any:
        response = await send(
            client,
            credentials,
            self.display_name,
            "GET",
            f"{credentials.endpoint}/models",
            headers=self._headers(credentials),
        )
        return json_body(response, self.display_name)

    async def validate_key(self, client: httpx.AsyncClient, credentials: Credentials) -> KeyCheck:
        return await check_key(self._models(client, credentials), self.display_name)

    async def list_models(self, client: httpx.AsyncClient, credentials: Credentials) -> list[str]:
        body = await self._models(client, credentials)
        # Together answers a bare list; everyone else wraps it in {"data": [...]}.
        entries = body.get("data") if isinstance(body, dict) else body
        return model_ids(entries, self.display_name)

    async def complete_json(
        self, client: httpx.AsyncClient, credentials: Credentials, request: StructuredRequest
    ) -> dict[str, Any]:
        body = chat_body(request, token_param=self.token_param)
        body["model"] = request.model
        response = await send(
            client,
            credentials,
            self.display_name,
            "POST",
            f"{credentials.endpoint}/chat/completions",
            headers=self._headers(credentials),
            body=body,
            request_timeout=request.timeout,
        )
        answer = json_body(response, self.display_name)
        record_usage(request, answer)
        return chat_answer(answer, self.display_name)
