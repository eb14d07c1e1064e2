"""Google's Gemini API (`v1beta`): model listing and `generateContent` with a JSON response
schema, which accepts only an OpenAPI 3.0 subset of JSON Schema (converted here)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx

from app.providers.base import (
    Credentials,
    KeyCheck,
    ProviderAuthError,
    ProviderBadResponse,
    StructuredRequest,
)
from app.providers.wire import (
    INVALID_KEY,
    check_key,
    json_body,
    parse_json_object,
    raise_for_status,
    record_usage,
    send,
)

NAME = "Gemini"
MAX_PAGES = 5
# Keywords Gemini's Schema object understands; everything else (additionalProperties, $schema,
# $defs, …) makes the request fail with 400, so it is dropped.
_KEPT = (
    "format",
    "title",
    "description",
    "minItems",
    "maxItems",
    "required",
    "minProperties",
    "maxProperties",
    "minLength",
    "maxLength",
    "pattern",
    "minimum",
    "maximum",
    "propertyOrdering",
)


def to_gemini_schema(schema: dict[str, Any], defs: dict[str, Any] | None = None) -> dict[str, Any]:
    """Translate a JSON schema into Gemini's `responseSchema` dialect (refs inlined)."""
    if defs is None:
        defs = {**schema.get("definitions", {}), **schema.get("$defs", {})}
    ref = schema.get("$ref")
    if isinstance(ref, str):
        target = defs.get(ref.rsplit("/", 1)[-1])
        if not isinstance(target, dict):
            raise ValueError(f"unresolvable $ref {ref!r}")
        return to_gemini_schema(target, defs)

    out: dict[str, Any] = {}
    nullable = False
    kind = schema.get("type")
    if isinstance(kind, list):
        nullable = "null" in kind
        kinds = [k for k in kind if k != "null"]
        kind = kinds[0] if kinds else None
    variants = schema.get("anyOf") or schema.get("oneOf")
    if isinstance(variants, list):
        kept = [v for v in variants if not (isinstance(v, dict) and v.get("type") == "null")]
        nullable = nullable or len(kept) < len(variants)
        if len(kept) == 1:
            out.update(to_gemini_schema(kept[0], defs))
        elif kept:
            out["anyOf"] = [to_gemini_schema(v, defs) for v in kept]
    if isinstance(kind, str):
        out["type"] = kind.upper()
    for key in _KEPT:
        if key in schema:
            out[key] = schema[key]
    if "const" in schema:
        out["enum"] = [str(schema["const"])]
    elif isinstance(schema.get("enum"), list):
        out["enum"] = [str(value) for value in schema["enum"] if value is not None]
    properties = schema.get("properties")
    if isinstance(properties, dict):
        out["properties"] = {name: to_gemini_schema(sub, defs) for name, sub in properties.items()}
        # Gemini otherwise orders keys alphabetically; keep the schema's order.
        out.setdefault("propertyOrdering", list(properties))
    if isinstance(schema.get("items"), dict):
        out["items"] = to_gemini_schema(schema["items"], defs)
    if nullable:
        out["nullable"] = True
    return out


class GeminiAdapter:
    display_name = NAME

    def _headers(self, credentials: Credentials) -> dict[str, str]:
        return {"x-goog-api-key": credentials.api_key}

    async def _call(
        self,
        client: httpx.AsyncClient,
        credentials: Credentials,
        method: str,
        url: str,
        **options: Any,
    ) -> Any:
        response = await send(
            client,
            credentials,
            NAME,
            method,
            url,
            headers=self._headers(credentials),
            check_status=False,
            **options,
        )
        # Gemini reports a bad key as 400 INVALID_ARGUMENT with reason API_KEY_INVALID.
        if response.status_code == 400 and "API_KEY_INVALID" in response.text:
            raise ProviderAuthError(INVALID_KEY, status_code=400)
        raise_for_status(response, credentials, NAME)
        return json_body(response, NAME)

    async def _models_page(
        self, client: httpx.AsyncClient, credentials: Credentials, token: str | None = None
    ) -> Any:
        params = {"pageSize": "1000"}
        if token:
            params["pageToken"] = token
        url = f"{credentials.endpoint}/v1beta/models"
        return await self._call(client, credentials, "GET", url, params=params)

    async def validate_key(self, client: httpx.AsyncClient, credentials: Credentials) -> KeyCheck:
        return await check_key(self._models_page(client, credentials), NAME)

    async def list_models(self, client: httpx.AsyncClient, credentials: Credentials) -> list[str]:
        ids: list[str] = []
        token: str | None = None
        for _ in range(MAX_PAGES):
            body = await self._models_page(client, credentials, token)
            models = body.get("models") if isinstance(body, dict) else None
            if not isinstance(models, list):
                raise ProviderBadResponse(f"{NAME} returned a model list in an unexpected shape")
            for model in models:
                if not isinstance(model, dict) or not isinstance(model.get("name"), str):
                    continue
                methods = model.get("supportedGenerationMethods")
                if isinstance(methods, list) and "generateContent" not in methods:
                    continue  # embedding and other non-chat models
                ids.append(model["name"].removeprefix("models/"))
            token = body.get("nextPageToken")
            if not isinstance(token, str) or not token:
                break
        return ids

    async def complete_json(
        self, client: httpx.AsyncClient, credentials: Credentials, request: StructuredRequest
    ) -> dict[str, Any]:
        model = quote(request.model.removeprefix("models/"), safe="")
        body = {
            "systemInstruction": {"parts": [{"text": request.system}]},
            "contents": [{"role": "user", "parts": [{"text": request.user}]}],
            "generationConfig": {
                "responseMimeType": "application/json",
                "responseSchema": to_gemini_schema(request.schema),
                "maxOutputTokens": request.max_output_tokens,
                **({} if request.temperature is None else {"temperature": request.temperature}),
            },
        }
        url = f"{credentials.endpoint}/v1beta/models/{model}:generateContent"
        answer = await self._call(
            client, credentials, "POST", url, body=body, request_timeout=request.timeout
        )
        record_usage(request, answer)
        try:
            parts = answer["candidates"][0]["content"]["parts"]
            text = "".join(part.get("text", "") for part in parts if isinstance(part, dict))
        except (KeyError, IndexError, TypeError, AttributeError):
            raise ProviderBadResponse(f"{NAME} returned no content") from None
        if not text.strip():
            raise ProviderBadResponse(f"{NAME} returned an empty answer")
        return parse_json_object(text, NAME)
