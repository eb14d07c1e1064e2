"""A misbehaving OpenAI-style provider on loopback, speaking raw HTTP/1.1.

It is a socket server rather than an ASGI app so that it can break the protocol the way real
networks do: a body cut short of its Content-Length, an answer that never comes. Its `mode`
says how the next requests are answered:

ok          200 with a model list, or a chat completion holding a valid summary
slow        never answers (the connection stays open until the client gives up)
error_500   500 with an OpenAI error body
rate_429    429 with Retry-After
malformed   200 whose body is not JSON
truncated   200 announcing more bytes than it sends, then the connection closes
wrong_shape 200 chat completion whose content is JSON missing the required keys
drip        200 whose body comes one byte every 0.5 s (no single read ever times out)

A request whose bearer key starts with `sk-mode-<mode>-` is answered in that mode whatever
`mode` says, so two teams can see two different providers at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import Counter
from typing import Any

MODES = ("ok", "slow", "error_500", "rate_429", "malformed", "truncated", "wrong_shape", "drip")
DRIP_EVERY = 0.5
SUMMARY = {
    "overall_assessment": "Most answers are correct and polite.",
    "pass_patterns": [],
    "fail_patterns": [],
    "na_patterns": [],
    "recommendations": ["Keep the prompt short.", "Add examples of refusals."],
}


def _completion(content: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}}],
    }


class FakeProvider:
    def __init__(self) -> None:
        self.mode = "ok"
        self.calls: Counter[str] = Counter()
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[None]] = set()

    @property
    def base_url(self) -> str:
        assert self._server is not None
        port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}/v1"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._handlers):
            task.cancel()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._server.wait_closed(), timeout=5)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            path, key = await self._read_request(reader)
            if path is not None:
                self.calls[path] += 1
                await self._answer(path, reader, writer, self._mode_for(key))
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass
        finally:
            self._handlers.discard(task)
            writer.close()

    def _mode_for(self, key: str) -> str:
        if key.startswith("sk-mode-"):
            mode = key.removeprefix("sk-mode-").split("-", 1)[0]
            if mode in MODES:
                return mode
        return self.mode

    @staticmethod
    async def _read_request(reader: asyncio.StreamReader) -> tuple[str | None, str]:
        """The request's path and bearer key."""
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        length = 0
        key = ""
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value.strip())
            if name.strip().lower() == "authorization":
                key = value.strip().removeprefix("Bearer ")
        if length:
            await reader.readexactly(length)
        parts = lines[0].split(" ")
        return (parts[1].split("?")[0] if len(parts) > 1 else None), key

    async def _answer(
        self, path: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, mode: str
    ) -> None:
        chat = path.endswith("/chat/completions")
        if mode == "drip":
            head = "HTTP/1.1 200 X\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n"
            writer.write(head.encode())
            for _ in range(200):
                writer.write(b" ")
                await writer.drain()
                await asyncio.sleep(DRIP_EVERY)
            return
        if mode == "slow":
            await reader.read()  # returns when the client hangs up
            return
        if mode == "error_500":
            body = json.dumps({"error": {"message": "The server had an error"}}).encode()
            self._write(writer, 500, body)
        elif mode == "rate_429":
            body = json.dumps({"error": {"message": "Rate limit reached"}}).encode()
            self._write(writer, 429, body, extra="Retry-After: 20\r\n")
        elif mode == "malformed":
            self._write(writer, 200, b"<html><body>Bad gateway</body></html>")
        elif mode == "truncated":
            whole = json.dumps(_completion(json.dumps(SUMMARY)) if chat else {"data": []})
            self._write(writer, 200, whole.encode(), send=len(whole) // 3)
        elif mode == "wrong_shape" and chat:
            body = json.dumps(_completion(json.dumps({"overall_assessment": 3}))).encode()
            self._write(writer, 200, body)
        elif chat:
            self._write(writer, 200, json.dumps(_completion(json.dumps(SUMMARY))).encode())
        else:
            models = {"object": "list", "data": [{"id": "gpt-4.1-mini"}, {"id": "gpt-4.1"}]}
            self._write(writer, 200, json.dumps(models).encode())
        await writer.drain()

    @staticmethod
    def _write(
        writer: asyncio.StreamWriter,
        status: int,
        body: bytes,
        *,
        extra: str = "",
        send: int | None = None,
    ) -> None:
        head = (
            f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n{extra}\r\n"
        )
        writer.write(head.encode() + body[: len(body) if send is None else send])
