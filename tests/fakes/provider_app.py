"""A fake LLM provider on loopback, speaking enough of each wire protocol for end-to-end runs.

`python -m tests.fakes.provider_app --port N` serves OpenAI-style (`/v1/...`), Anthropic
(`/anthropic/v1/...`) and Gemini (`/gemini/v1beta/...`) endpoints. A key containing `bad` is
refused with 401; every other key works. Completions answer a small valid summary.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

SUMMARY: dict[str, Any] = {
    "overall_assessment": "Mostly passing; failures come from invented facts.",
    "pass_patterns": [
        {
            "title": "Grounded answers",
            "description": "Answers cite the provided context.",
            "frequency": "common",
            "example_reasoning": "The answer quotes the source.",
            "example_generation_ids": [],
        }
    ],
    "fail_patterns": [],
    "na_patterns": [],
    "recommendations": ["Ground every claim in the context.", "Add a refusal path."],
}


def _key(request: Request) -> str:
    header = request.headers.get("authorization", "")
    return (
        header.removeprefix("Bearer ")
        or request.headers.get("x-api-key", "")
        or request.headers.get("x-goog-api-key", "")
        or request.headers.get("api-key", "")
    )


def _refused(request: Request) -> Response | None:
    if "bad" in _key(request):
        return JSONResponse({"error": {"message": "invalid api key"}}, status_code=401)
    return None


async def openai_models(request: Request) -> Response:
    return _refused(request) or JSONResponse(
        {"object": "list", "data": [{"id": "gpt-4.1-mini"}, {"id": "gpt-4o"}, {"id": "zeta"}]}
    )


async def openai_chat(request: Request) -> Response:
    return _refused(request) or JSONResponse(
        {
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": json.dumps(SUMMARY)},
                    "finish_reason": "stop",
                }
            ],
        }
    )


async def anthropic_models(request: Request) -> Response:
    return _refused(request) or JSONResponse({"data": [{"id": "claude-sonnet-4-5"}]})


async def anthropic_messages(request: Request) -> Response:
    body = await request.json()
    tool = (body.get("tools") or [{"name": "result"}])[0]["name"]
    return _refused(request) or JSONResponse(
        {
            "id": "msg_fake",
            "type": "message",
            "role": "assistant",
            "content": [{"type": "tool_use", "id": "tu_1", "name": tool, "input": SUMMARY}],
            "stop_reason": "tool_use",
        }
    )


async def gemini_models(request: Request) -> Response:
    return _refused(request) or JSONResponse({"models": [{"name": "models/gemini-2.5-flash"}]})


async def gemini_generate(request: Request) -> Response:
    return _refused(request) or JSONResponse(
        {"candidates": [{"content": {"parts": [{"text": json.dumps(SUMMARY)}], "role": "model"}}]}
    )


def create_app() -> Starlette:
    return Starlette(
        routes=[
            Route("/v1/models", openai_models),
            Route("/v1/chat/completions", openai_chat, methods=["POST"]),
            Route("/anthropic/v1/models", anthropic_models),
            Route("/anthropic/v1/messages", anthropic_messages, methods=["POST"]),
            Route("/gemini/v1beta/models", gemini_models),
            Route(
                "/gemini/v1beta/models/{model}:generateContent", gemini_generate, methods=["POST"]
            ),
        ]
    )


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvicorn.run(create_app(), host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
