"""uvicorn options of `llma serve` (and the bench's baseline): connection limits, keep-alive,
and a request-head timeout uvicorn lacks.

uvicorn (0.54-0.55) closes idle keep-alive connections after `timeout_keep_alive`, and answers
503 past `limit_concurrency`, but it has no timer between a connection's first byte (or its
opening) and the end of the request head: a client dripping header bytes, or one that opens a
socket and sends nothing, holds the connection forever. `HeadTimeoutProtocol` adds that timer to
uvicorn's httptools protocol through its parser hooks; pyproject pins uvicorn below 0.56 and
tests/foundation/test_serving_hooks.py fails if those hooks change.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from app.settings import Settings, get_settings


class HeadTimeoutProtocol(HttpToolsProtocol):
    """Closes a connection whose request head is not complete SERVER_HEADER_TIMEOUT_SECONDS
    after the connection opened, or after the first byte of a later request on it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Workers are separate processes: they read the timeout from the same environment.
        self.head_timeout = get_settings().server_header_timeout_seconds
        self.head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._start_head_timer()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._start_head_timer()  # a later request on a kept-alive connection: its own budget

    def on_headers_complete(self) -> None:
        self._stop_head_timer()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_head_timer()
        super().connection_lost(exc)

    def _start_head_timer(self) -> None:
        if self.head_timer is None:
            self.head_timer = self.loop.call_later(self.head_timeout, self._head_timed_out)

    def _stop_head_timer(self) -> None:
        if self.head_timer is not None:
            self.head_timer.cancel()
            self.head_timer = None

    def _head_timed_out(self) -> None:
        self.head_timer = None
        if not self.transport.is_closing():
            self.transport.close()


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """The limits every uvicorn this project starts runs with (per worker process)."""
    return {
        # An import string, not the class: each worker process imports it for itself.
        "http": f"{__name__}:{HeadTimeoutProtocol.__name__}",
        "limit_concurrency": settings.server_limit_concurrency,
        "timeout_keep_alive": settings.server_keep_alive_seconds,
    }
