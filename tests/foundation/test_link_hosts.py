"""Pagination links never carry a host the client made up: PUBLIC_BASE_URL when set, else the
request's origin only when its Host is one of ALLOWED_HOSTS, else a relative link."""

from __future__ import annotations

import httpx
import pytest
from pydantic import ValidationError

from app.settings import Settings
from tests.factories import Identity


def probes(identity: Identity) -> str:
    return f"/api/environments/{identity.team.id}/probes/?limit=2&offset=2"


@pytest.mark.parametrize(
    ("host", "origin"),
    [
        ("evil.example", ""),
        ("evil.example:8000", ""),
        ("localhost.evil.example", ""),
        ("localhost:8000", "http://localhost:8000"),
        ("127.0.0.1", "http://127.0.0.1"),
        ("[::1]:8000", "http://[::1]:8000"),
        ("TESTSERVER", "http://TESTSERVER"),  # host names are case-insensitive
    ],
)
async def test_links_follow_only_allowed_hosts(
    api: httpx.AsyncClient, identity: Identity, host: str, origin: str
) -> None:
    body = (await api.get(probes(identity), headers={"Host": host})).json()
    path = f"/api/environments/{identity.team.id}/probes/"
    assert body["next"] == f"{origin}{path}?limit=2&offset=4"
    assert body["previous"] == f"{origin}{path}?limit=2"


@pytest.fixture
def settings(settings: Settings, request: pytest.FixtureRequest) -> Settings:
    return settings.model_copy(update=getattr(request, "param", {}))


@pytest.mark.parametrize(
    "settings", [{"public_base_url": "https://llma.example.com/"}], indirect=True
)
async def test_public_base_url_wins(api: httpx.AsyncClient, identity: Identity) -> None:
    for host in ("evil.example", "localhost"):
        body = (await api.get(probes(identity), headers={"Host": host})).json()
        assert body["next"].startswith(
            f"https://llma.example.com/api/environments/{identity.team.id}/probes/?"
        )


@pytest.mark.parametrize(
    "settings", [{"allowed_hosts": "api.example.com, .corp.example"}], indirect=True
)
async def test_configured_hosts_and_domains(api: httpx.AsyncClient, identity: Identity) -> None:
    def next_for(host: str) -> str:
        return str((api_get[host]).json()["next"])

    api_get = {
        host: await api.get(probes(identity), headers={"Host": host})
        for host in ("api.example.com", "x.corp.example", "corp.example", "testserver")
    }
    assert next_for("api.example.com").startswith("http://api.example.com/")
    assert next_for("x.corp.example").startswith("http://x.corp.example/")
    assert next_for("corp.example").startswith("http://corp.example/")
    assert next_for("testserver").startswith("/api/")


def test_public_base_url_must_be_an_http_url() -> None:
    for bad in ("llma.example.com", "ftp://x.example", "https://x.example/?q=1"):
        with pytest.raises(ValidationError, match="public_base_url"):
            Settings(_env_file=None, public_base_url=bad)  # type: ignore[call-arg]
    settings = Settings(_env_file=None, public_base_url="https://x.example/llma/")  # type: ignore[call-arg]
    assert settings.public_base_url == "https://x.example/llma"
