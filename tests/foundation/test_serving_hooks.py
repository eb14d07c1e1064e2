"""app/web/serving.py leans on uvicorn internals: fail loudly here if an upgrade moves them."""

from __future__ import annotations

import inspect
from importlib.metadata import version

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from app.settings import Settings
from app.web.serving import uvicorn_options


def test_the_httptools_protocol_still_has_the_hooks_we_override() -> None:
    for hook in ("connection_made", "connection_lost", "on_message_begin", "on_headers_complete"):
        assert callable(getattr(HttpToolsProtocol, hook, None)), hook
    parameters = list(inspect.signature(HttpToolsProtocol.__init__).parameters)
    assert parameters[:4] == ["self", "config", "server_state", "app_state"]
    source = inspect.getsource(HttpToolsProtocol)
    # We read the loop and transport uvicorn stores, and the parser it builds with `self`.
    assert "self.loop = " in source
    assert "self.transport = transport" in source
    assert "httptools.HttpRequestParser(self)" in source


def test_uvicorn_is_within_the_pinned_range() -> None:
    major, minor = (int(part) for part in version("uvicorn").split(".")[:2])
    assert (major, minor) in ((0, 54), (0, 55))


def test_the_options_carry_the_settings() -> None:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, server_limit_concurrency=7, server_keep_alive_seconds=3
    )
    options = uvicorn_options(settings)
    assert options["limit_concurrency"] == 7
    assert options["timeout_keep_alive"] == 3
    assert options["http"] == "app.web.serving:HeadTimeoutProtocol"
