"""A fake LLM provider at the transport level, answering in each wire protocol's shape.

`script` is a queue of behaviours, one per call (the last one repeats): a dict is the model's
JSON answer, a str is raw model text, an int is an HTTP error status, an exception is raised
by the transport (timeouts, connection errors).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx

Behaviour = dict[str, Any] | str | int | Exception


def answer(**overrides: Any) -> dict[str, Any]:
    """A valid model answer; patterns cite nothing unless told to."""
    body: dict[str, Any] = {
        "overall_assessment": "Mostly helpful answers; failures invent facts.",
        "pass_patterns": [],
        "fail_patterns": [],
        "na_patterns": [],
        "recommendations": ["Ground answers in the retrieved context.", "Add a refusal path."],
    }
    body.update(overrides)
    return body


def pattern(title: str, ids: list[str], **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "title": title,
        "description": f"{title} across several runs.",
        "frequency": "common",
        "example_reasoning": "The answer cites the source.",
        "example_generation_ids": ids,
    }
    body.update(overrides)
    return body


class FakeLLM:
    def __init__(self, *script: Behaviour, delay: float = 0.0) -> None:
        self.script: list[Behaviour] = list(script) or [answer()]
        self.delay = delay
        self.calls: list[httpx.Request] = []

    def then(self, *script: Behaviour) -> None:
        self.script = list(script)

    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(request.content) for request in self.calls]

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls.append(request)
        behaviour = self.script.pop(0) if len(self.script) > 1 else self.script[0]
        if self.delay:
            await asyncio.sleep(self.delay)
        if isinstance(behaviour, Exception):
            raise behaviour
        if isinstance(behaviour, int):
            return httpx.Response(behaviour, json={"error": {"message": "upstream says no"}})
        return _reply(request, behaviour)


def _reply(request: httpx.Request, behaviour: dict[str, Any] | str) -> httpx.Response:
    text = behaviour if isinstance(behaviour, str) else json.dumps(behaviour)
    path = request.url.path
    if path.endswith("/chat/completions"):
        message = {"role": "assistant", "content": text}
        return httpx.Response(200, json={"id": "c1", "choices": [{"index": 0, "message": message}]})
    if path.endswith("/v1/messages"):
        block: dict[str, Any] = (
            {"type": "text", "text": text}
            if isinstance(behaviour, str)
            else {"type": "tool_use", "id": "t1", "name": "evaluation_summary", "input": behaviour}
        )
        return httpx.Response(200, json={"id": "m1", "type": "message", "content": [block]})
    if path.endswith(":generateContent"):
        content = {"role": "model", "parts": [{"text": text}]}
        return httpx.Response(200, json={"candidates": [{"content": content}]})
    return httpx.Response(404, json={"error": {"message": f"fake has no {path}"}})
