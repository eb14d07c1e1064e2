"""SPEC §4: error shapes, body handling, paths, pagination and check order."""

from __future__ import annotations

import asyncpg
import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from app.web.handlers import is_connection_failure
from tests.factories import Identity, add_key, bearer


def probes(identity: Identity) -> str:
    return f"/api/environments/{identity.team.id}/probes/"


async def test_validation_error_is_400_with_attr(
    api: httpx.AsyncClient, identity: Identity
) -> None:
    response = await api.post(probes(identity), json={})
    assert response.status_code == 400
    assert response.json() == {
        "type": "validation_error",
        "code": "required",
        "detail": "This field is required.",
        "attr": "name",
    }
    response = await api.post(probes(identity), json={"name": "x" * 11})
    assert response.status_code == 400
    assert response.json()["attr"] == "name"
    assert response.json()["code"] == "max_length"


async def test_form_encoded_body_is_accepted(api: httpx.AsyncClient, identity: Identity) -> None:
    response = await api.post(probes(identity), data={"name": "form", "size": "3"})
    assert response.status_code == 201, response.text
    assert response.json()["name"] == "form"
    assert response.json()["size"] == 3


@pytest.mark.parametrize(
    ("content", "detail_part"),
    [(b"[1, 2]", "Expected a dictionary"), (b"{not json", "JSON parse error"), (b"null", "null")],
)
async def test_body_must_be_a_json_object(
    api: httpx.AsyncClient, identity: Identity, content: bytes, detail_part: str
) -> None:
    response = await api.post(
        probes(identity), content=content, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["type"] == "validation_error"
    assert detail_part in response.json()["detail"]


async def test_empty_body_reads_as_empty_object(api: httpx.AsyncClient, identity: Identity) -> None:
    response = await api.post(probes(identity))
    assert response.status_code == 400
    assert response.json()["attr"] == "name"


async def test_other_content_type_is_415(api: httpx.AsyncClient, identity: Identity) -> None:
    response = await api.post(
        probes(identity), content=b"name=x", headers={"Content-Type": "text/plain"}
    )
    assert response.status_code == 415
    assert response.json()["type"] == "invalid_request"


async def test_415_comes_after_auth(client: httpx.AsyncClient, identity: Identity) -> None:
    response = await client.post(
        probes(identity), content=b"x", headers={"Content-Type": "text/plain"}
    )
    assert response.status_code == 401


async def test_body_over_limit_is_413(
    api: httpx.AsyncClient, identity: Identity, app: object
) -> None:
    limit = app.state.settings.max_request_bytes  # type: ignore[attr-defined]
    response = await api.post(
        probes(identity),
        content=b'{"name": "' + b"x" * limit + b'"}',
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert response.json()["type"] == "invalid_request"


async def test_streamed_body_over_limit_is_413(
    api: httpx.AsyncClient, identity: Identity, app: object
) -> None:
    limit = app.state.settings.max_request_bytes  # type: ignore[attr-defined]

    async def chunks():  # type: ignore[no-untyped-def]
        for _ in range(limit // 65536 + 2):
            yield b"x" * 65536

    response = await api.post(
        probes(identity), content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413


async def test_unknown_query_parameter_is_400(api: httpx.AsyncClient, identity: Identity) -> None:
    response = await api.get(probes(identity) + "?limt=5")
    assert response.status_code == 400
    body = response.json()
    assert body["attr"] == "limt"
    assert "limit" in body["detail"]
    assert "offset" in body["detail"]
    assert (await api.get(probes(identity) + "?format=json")).status_code == 200


@pytest.mark.parametrize("value", ["abc", "-1", "1.5", "99999999999999999999999"])
async def test_bad_paging_values_are_400(
    api: httpx.AsyncClient, identity: Identity, value: str
) -> None:
    response = await api.get(probes(identity) + f"?limit={value}")
    assert response.status_code == 400
    assert response.json()["attr"] == "limit"
    response = await api.get(probes(identity) + f"?offset={value}")
    assert response.json()["attr"] == "offset"


async def test_pagination_links_walk_three_pages(
    api: httpx.AsyncClient, identity: Identity
) -> None:
    url = probes(identity) + "?limit=3&total=8"
    seen: list[int] = []
    pages = 0
    previous = None
    while url:
        response = await api.get(url)
        assert response.status_code == 200
        body = response.json()
        assert body["count"] == 8
        assert (body["previous"] is None) == (pages == 0)
        if previous is not None:
            assert body["previous"] is not None
        seen += body["results"]
        previous = url
        url = body["next"]
        if url:
            assert url.startswith("http://testserver/api/environments/")
            assert "total=8" in url
            assert "limit=3" in url
        pages += 1
    assert pages == 3
    assert seen == list(range(8))


async def test_limit_is_clamped(api: httpx.AsyncClient, identity: Identity) -> None:
    response = await api.get(probes(identity) + "?limit=5000&total=2500")
    body = response.json()
    assert len(body["results"]) == 1000
    assert "limit=1000" in body["next"]


async def test_trailing_slash_and_projects_path(api: httpx.AsyncClient, identity: Identity) -> None:
    team = identity.team.id
    for path in (
        f"/api/environments/{team}/probes",
        f"/api/environments/{team}/probes/",
        f"/api/projects/{team}/probes",
        f"/api/projects/{team}/probes/",
    ):
        response = await api.get(path)
        assert response.status_code == 200, path
    response = await api.get(f"/api/projects/{team}/probes?limit=2&total=5")
    assert response.json()["next"].startswith(f"http://testserver/api/projects/{team}/probes")


async def test_unsupported_method_is_405_after_auth(
    client: httpx.AsyncClient, session: AsyncSession, identity: Identity
) -> None:
    writer = await add_key(session, identity, scopes=["dataset:write"])
    reader = await add_key(session, identity, scopes=["dataset:read"])
    response = await client.delete(probes(identity), headers=bearer(writer))
    assert response.status_code == 405
    assert response.json() == {
        "type": "invalid_request",
        "code": "method_not_allowed",
        "detail": 'Method "DELETE" not allowed.',
        "attr": None,
    }
    assert response.headers["allow"] == "GET, POST"
    # A key without the write scope learns nothing about the method.
    assert (await client.delete(probes(identity), headers=bearer(reader))).status_code == 403
    assert (await client.delete(probes(identity))).status_code == 401


async def test_unknown_path_is_404_json(api: httpx.AsyncClient) -> None:
    response = await api.get("/api/environments/1/nothing-here/")
    assert response.status_code == 404
    assert response.json()["type"] == "invalid_request"


async def test_unhandled_error_is_500_without_internals(app: object, identity: Identity) -> None:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        response = await client.get(probes(identity) + "boom/", headers=identity.headers)
    assert response.status_code == 500
    assert response.json() == {
        "type": "server_error",
        "code": "error",
        "detail": "A server error occurred.",
        "attr": None,
    }
    assert "SELECT" not in response.text


async def test_request_id_is_echoed(api: httpx.AsyncClient, identity: Identity) -> None:
    response = await api.get(probes(identity), headers={"X-Request-ID": "abc-123"})
    assert response.headers["x-request-id"] == "abc-123"
    generated = await api.get(probes(identity))
    assert len(generated.headers["x-request-id"]) == 32


async def test_null_characters_are_rejected(api: httpx.AsyncClient, identity: Identity) -> None:
    response = await api.post(probes(identity), json={"name": "a\x00b"})
    assert response.status_code == 400
    assert response.json()["attr"] == "name"
    assert response.json()["detail"] == "Null characters are not allowed."
    form = await api.post(probes(identity), data={"name": "a\x00"})
    assert form.status_code == 400
    query = await api.get(probes(identity) + "?limit=1%00")
    assert query.status_code == 400
    assert query.json()["attr"] == "limit"


async def test_driver_out_of_step_is_503_not_500(app: object, identity: Identity) -> None:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        response = await client.get(
            probes(identity) + "driver-out-of-step/", headers=identity.headers
        )
    assert response.status_code == 503
    assert response.json()["code"] == "database_unavailable"
    assert "state 12" not in response.text


@pytest.mark.parametrize("probe", ["file-error/", "socket-error/"])
async def test_an_oserror_outside_the_database_is_a_logged_500(
    app: object, identity: Identity, probe: str, caplog: pytest.LogCaptureFixture
) -> None:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        response = await client.get(probes(identity) + probe, headers=identity.headers)
    assert response.status_code == 500
    assert response.json()["code"] == "error"
    assert "nonexistent" not in response.text
    assert any(record.levelname == "ERROR" for record in caplog.records)
    assert not any("database unavailable" in record.getMessage() for record in caplog.records)


async def test_only_socket_errors_raised_by_the_driver_read_as_an_outage() -> None:
    with pytest.raises(ConnectionRefusedError) as refused:
        await asyncpg.connect("postgresql://postgres@127.0.0.1:9/none", timeout=2)
    assert is_connection_failure(refused.value)
    with pytest.raises(FileNotFoundError) as missing:
        open("/nonexistent/llma-probe.txt", encoding="utf-8").close()  # noqa: ASYNC230
    assert not is_connection_failure(missing.value)
