"""A fake OpenAI-style judge on a loopback socket, for worker processes in other processes.

Every chat completion answers after `delay` seconds: a verdict (`pass`, or `fail` when the
prompt holds `FAIL`) for the `verdict` schema, `{"output": ...}` for the `answer` schema. Each
call is logged as (key, time.time()) where the key is the prompt's `item-<n>` marker plus the
criterion's `crit-<x>` marker, so tests can count repeated calls per (item, evaluation).
HTTP/1.1 keep-alive, so a busy worker reuses its connections as with a real provider.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
from typing import Any

_ITEM = re.compile(r"item-\d+")
_CRITERION = re.compile(r"crit-\w+")


def _key(prompt: str) -> str:
    item, criterion = _ITEM.search(prompt), _CRITERION.search(prompt)
    return f"{item.group(0) if item else ''}/{criterion.group(0) if criterion else ''}"


class JudgeServer:
    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.calls: list[tuple[str, float]] = []
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def base_url(self) -> str:
        assert self._server is not None
        port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}/v1"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, backlog=512)

    async def stop(self) -> None:
        if self._server is None:
            return
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._server.wait_closed(), timeout=5)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.decode("latin-1").split("\r\n")[1:]:
                    name, _, value = line.partition(":")
                    if name.strip().lower() == "content-length":
                        length = int(value.strip())
                body = json.loads(await reader.readexactly(length)) if length else {}
                answer = await self._answer(body)
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    + f"Content-Length: {len(answer)}\r\n\r\n".encode()
                    + answer
                )
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass
        finally:
            self._tasks.discard(task)
            writer.close()

    async def _answer(self, body: dict[str, Any]) -> bytes:
        messages = body.get("messages") or [{}, {"content": ""}]
        prompt = str(messages[-1].get("content", ""))
        schema = body.get("response_format", {}).get("json_schema", {}).get("name")
        self.calls.append((_key(prompt), time.time()))
        if self.delay:
            await asyncio.sleep(self.delay)
        if schema == "answer":
            content: dict[str, Any] = {"output": f"generated: {prompt[:40]}"}
        else:
            verdict = "fail" if "FAIL" in prompt else "pass"
            content = {"verdict": verdict, "reasoning": "the fake judge says so"}
        return json.dumps(
            {
                "id": "chatcmpl-judge",
                "object": "chat.completion",
                "choices": [
                    {"index": 0, "message": {"role": "assistant", "content": json.dumps(content)}}
                ],
                "usage": {"prompt_tokens": 100, "completion_tokens": 12},
            }
        ).encode()
