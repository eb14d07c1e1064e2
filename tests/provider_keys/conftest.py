"""A fake of every provider on the shared client's transport, configurable per test."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

MODEL_LISTS: dict[str, Any] = {
    "/v1/models": {"data": [{"id": "gpt-4.1-mini"}, {"id": "zeta-model"}, {"id": "alpha-model"}]},
    "/models": {"data": [{"id": "gpt-4.1-mini"}, {"id": "zeta-model"}, {"id": "alpha-model"}]},
    "/v1beta/models": {"models": [{"name": "models/gemini-2.5-flash"}]},
    "/openai/models": {"data": [{"id": "my-deployment"}]},
}


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
            return httpx.Response(self.status, json=self.body)
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
