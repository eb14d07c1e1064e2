"""A fake of every provider on the shared client's transport, configurable per test."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

# Two curated OpenAI ids out of curated order, and a duplicate: the listing must reorder and
# deduplicate, and show no curated id the key cannot reach.
OPENAI_LIVE = {
    "data": [
        {"id": "gpt-4.1-mini"},
        {"id": "zeta-model"},
        {"id": "gpt-5"},
        {"id": "alpha-model"},
        {"id": "zeta-model"},
    ]
}
MODEL_LISTS: dict[str, Any] = {
    "/v1/models": OPENAI_LIVE,
    "/models": OPENAI_LIVE,
    "/v1beta/models": {"models": [{"name": "models/gemini-2.5-flash"}]},
    "/openai/models": {"data": [{"id": "my-deployment"}]},
}


ECHO_KEY = "echo-the-key"


class FakeProviders:
    """Answers model listings with 200 unless told otherwise; records every request."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.status = 200
        self.body: Any = None
        self.error: type[Exception] | None = None

    def fail(self, status: int, body: Any = None) -> None:
        self.status, self.body = status, body if body is not None else {"error": "nope"}

    def raise_(self, error: type[Exception]) -> None:
        self.error = error

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.error is not None:
            raise self.error("fake failure", request=request)  # type: ignore[call-arg]
        if self.status != 200:
            body = self.body
            if body == ECHO_KEY:
                # Like real providers, quote the key that was sent back in the error.
                sent = request.headers.get("authorization", "").removeprefix("Bearer ")
                body = {"error": {"message": f"Incorrect API key provided: {sent}."}}
            return httpx.Response(self.status, json=body)
        path = request.url.path
        for suffix, body in MODEL_LISTS.items():
            if path.endswith(suffix):
                return httpx.Response(200, json=body)
        return httpx.Response(404, content=json.dumps({"error": "unknown path"}))


@pytest.fixture
def fake() -> FakeProviders:
    return FakeProviders()


@pytest.fixture
def provider_transport(fake: FakeProviders) -> httpx.MockTransport:
    return httpx.MockTransport(fake)


OPENAI_KEY = "sk-proj-abcdefghijklmnopqrstuvwxyz0123"


def base_path(team_id: int) -> str:
    return f"/api/environments/{team_id}/llm_analytics"


async def create_key(api: httpx.AsyncClient, team_id: int, **fields: Any) -> dict[str, Any]:
    """A stored key (the fake provider must answer 200); returns the response body."""
    body = {"provider": "openai", "name": "Main key", "api_key": OPENAI_KEY, **fields}
    response = await api.post(f"{base_path(team_id)}/provider_keys/", json=body)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result
