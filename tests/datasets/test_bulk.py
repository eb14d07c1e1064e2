"""Bulk item import and export over HTTP: formats, per-line answers, gzip, atomic mode, dedupe,
limits, a client that goes away mid-body, the round trip, and the maintained `item_count`."""

from __future__ import annotations

import csv
import gzip
import io
import json
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.main import create_app
from app.settings import Settings
from tests.datasets.conftest import StatementLog, Urls, assert_error, create_dataset, create_item
from tests.factories import Identity, add_key, bearer

NDJSON = "application/x-ndjson"


def import_url(urls: Urls, dataset_id: str) -> str:
    return f"{urls.dataset(dataset_id)}items/import/"


def export_url(urls: Urls, dataset_id: str) -> str:
    return f"{urls.dataset(dataset_id)}items/export/"


def ndjson(*items: Any) -> bytes:
    return b"".join(orjson.dumps(item) + b"\n" for item in items)


async def post_import(
    api: httpx.AsyncClient,
    urls: Urls,
    dataset_id: str,
    body: bytes,
    content_type: str = NDJSON,
    headers: dict[str, str] | None = None,
    **params: str,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The per-line answers and the summary line."""
    response = await api.post(
        import_url(urls, dataset_id),
        content=body,
        params=params,
        headers={"content-type": content_type, **(headers or {})},
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith(NDJSON)
    lines = [orjson.loads(line) for line in response.content.splitlines()]
    assert lines, "at least the summary line"
    summary = lines[-1]
    assert summary["summary"] is True
    return lines[:-1], summary


async def live_items(api: httpx.AsyncClient, urls: Urls, dataset_id: str) -> list[dict[str, Any]]:
    response = await api.get(urls.items, params={"dataset": dataset_id, "limit": 1000})
    assert response.status_code == 200
    results: list[dict[str, Any]] = response.json()["results"]
    return results


async def item_count(api: httpx.AsyncClient, urls: Urls, dataset_id: str) -> int:
    response = await api.get(urls.dataset(dataset_id))
    assert response.status_code == 200
    count: int = response.json()["item_count"]
    return count


@pytest.fixture
async def dataset(api: httpx.AsyncClient, urls: Urls) -> dict[str, Any]:
    return await create_dataset(api, urls, name="Bulk home: golden set")


def _ids() -> Iterator[str]:
    while True:
        yield str(uuid.uuid4())


# --- formats ---------------------------------------------------------------------------------


async def test_ndjson_creates_items_and_answers_every_line(
    api: httpx.AsyncClient, urls: Urls, dataset: dict[str, Any]
) -> None:
    client_id = str(uuid.uuid4())
    body = (
        ndjson(
            {"id": client_id, "input": {"q": "2+2"}, "output": "4", "metadata": {"tag": "math"}},
            {"input": "hello", "ref_trace_id": "t-1", "ref_timestamp": "2026-01-02T03:04:05Z"},
        )
        + b"\n  \n"
        + ndjson({"input": [1, 2, 3]})
    )
    answers, summary = await post_import(api, urls, dataset["id"], body)
    assert [a["line"] for a in answers] == [1, 2, 5]  # blank lines are not items
    assert [a["status"] for a in answers] == ["created"] * 3
    assert answers[0]["id"] == client_id
    assert summary["lines"] == 3
    assert summary["created"] == 3
    assert summary["rejected"] == 0

    stored = {item["id"]: item for item in await live_items(api, urls, dataset["id"])}
    assert set(stored) == {a["id"] for a in answers}
    assert stored[client_id]["input"] == {"q": "2+2"}
    assert stored[client_id]["metadata"] == {"tag": "math"}
    second = stored[answers[1]["id"]]
    assert second["output"] is None
    assert second["ref_trace_id"] == "t-1"
    assert second["ref_timestamp"] == "2026-01-02T03:04:05.000000Z"
    assert await item_count(api, urls, dataset["id"]) == 3


async def test_csv_cells_are_json_when_they_parse_and_text_otherwise(
    api: httpx.AsyncClient, urls: Urls, dataset: dict[str, Any]
) -> None:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["input", "output", "metadata", "ref_source_id"])
    writer.writerow(['{"q": "capital of France"}', "Paris", '{"lang": "en"}', "src-1"])
    writer.writerow(["two\nlines", '"quoted json string"', "", ""])
    writer.writerow(["42", "", "[1, 2]", ""])
    writer.writerow(["x", "y", "{not json", ""])
    answers, summary = await post_import(
        api, urls, dataset["id"], out.getvalue().encode(), "text/csv"
    )
    # The second record spans two physical lines, so the next one starts on line 5.
    assert [(a["line"], a["status"]) for a in answers] == [
        (2, "created"),
        (3, "created"),
        (5, "created"),
        (6, "rejected"),
    ]
    assert answers[3]["error"]["attr"] == "metadata"
    assert summary["created"] == 3
    assert summary["rejected"] == 1
    stored = {item["id"]: item for item in await live_items(api, urls, dataset["id"])}
    first, second, third = (stored[a["id"]] for a in answers[:3])
    assert first["input"] == {"q": "capital of France"}
    assert first["output"] == "Paris"
    assert first["metadata"] == {"lang": "en"}
    assert first["ref_source_id"] == "src-1"
    assert second["input"] == "two\nlines"
    assert second["output"] == "quoted json string"
    assert second["metadata"] is None
    assert second["ref_source_id"] is None
    assert third["input"] == 42
    assert third["metadata"] == [1, 2]


async def test_csv_unknown_column_stops_the_import(
    api: httpx.AsyncClient, urls: Urls, dataset: dict[str, Any]
) -> None:
    answers, summary = await post_import(
        api, urls, dataset["id"], b"input,colour\n1,red\n", "text/csv"
    )
    assert answers == []
    assert summary["error"]["attr"] == "colour"
    assert await item_count(api, urls, dataset["id"]) == 0


async def test_json_array_body(api: httpx.AsyncClient, urls: Urls, dataset: dict[str, Any]) -> None:
    body = (
        b' [ {"input": "a, [b] {c}", "output": {"k": [1, {"x": "]"}]}},\n'
        b' 7, {"input": "\\"z\\""} ] '
    )
    answers, summary = await post_import(api, urls, dataset["id"], body, "application/json")
    assert [(a["line"], a["status"]) for a in answers] == [
        (1, "created"),
        (2, "rejected"),
        (3, "created"),
    ]
    assert answers[1]["error"]["code"] == "invalid"
    assert summary["created"] == 2
    stored = {item["id"]: item for item in await live_items(api, urls, dataset["id"])}
    assert stored[answers[0]["id"]]["input"] == "a, [b] {c}"
    assert stored[answers[0]["id"]]["output"] == {"k": [1, {"x": "]"}]}
    assert stored[answers[2]["id"]]["input"] == '"z"'


async def test_json_body_that_is_not_an_array_is_an_error_line(
    api: httpx.AsyncClient, urls: Urls, dataset: dict[str, Any]
) -> None:
    answers, summary = await post_import(
        api, urls, dataset["id"], b'{"input": 1}', "application/json"
    )
    assert answers == []
    assert summary["error"]["code"] == "parse_error"


@pytest.mark.parametrize("declared", [True, False])
async def test_gzip_body_declared_or_sniffed(
    api: httpx.AsyncClient, urls: Urls, dataset: dict[str, Any], declared: bool
) -> None:
    body = gzip.compress(ndjson(*({"input": n} for n in range(50))))
    headers = {"content-encoding": "gzip"} if declared else {}
    answers, summary = await post_import(api, urls, dataset["id"], body, headers=headers)
    assert summary["created"] == 50
    assert [a["line"] for a in answers] == list(range(1, 51))
    assert await item_count(api, urls, dataset["id"]) == 50


async def test_corrupt_gzip_is_refused_before_anything_is_written(
    api: httpx.AsyncClient, urls: Urls, dataset: dict[str, Any]
) -> None:
    response = await api.post(
        import_url(urls, dataset["id"]),
        content=b"\x1f\x8b\x08\x00garbage",
        headers={"content-type": NDJSON},
    )
    assert_error(response, 400, None, "parse_error")
    assert await item_count(api, urls, dataset["id"]) == 0


# --- statuses ---------------------------------------------------------------------------------


async def test_every_status(
    api: httpx.AsyncClient,
    other_api: httpx.AsyncClient,
    urls: Urls,
    other: Identity,
    dataset: dict[str, Any],
) -> None:
    same, changed, new = (str(uuid.uuid4()) for _ in range(3))
    await post_import(
        api,
        urls,
        dataset["id"],
        ndjson({"id": same, "input": "s"}, {"id": changed, "input": "before"}),
    )
    theirs = await create_dataset(other_api, Urls(other.team.id), name="theirs")
    their_item = await create_item(other_api, Urls(other.team.id), theirs["id"], input="secret")
    sibling = await create_dataset(api, urls, name="sibling")
    sibling_item = await create_item(api, urls, sibling["id"], input="elsewhere")

    body = (
        ndjson(
            {"id": same, "input": "s"},
            {"id": changed, "input": "after"},
            {"id": new, "input": "n"},
            {"id": their_item["id"], "input": "hijack"},
            {"id": sibling_item["id"], "input": "elsewhere"},
        )
        + b'{"input": 1,}\n{"id": "not-a-uuid"}\n{"ref_timestamp": "yesterday"}\n["a list"]\n'
    )
    answers, summary = await post_import(api, urls, dataset["id"], body)
    statuses = [a["status"] for a in answers]
    assert statuses == [
        "unchanged",
        "conflict",
        "created",
        "conflict",
        "conflict",
        "rejected",
        "rejected",
        "rejected",
        "rejected",
    ]
    assert answers[1]["error"]["code"] == "conflict"
    # Another team's id and a sibling dataset's id read the same: nothing leaks.
    assert answers[3]["error"] == answers[4]["error"]
    assert answers[3]["error"]["code"] == "id_taken"
    assert "secret" not in str(answers)
    assert answers[5]["error"]["code"] == "parse_error"
    uuid_error = {"code": "invalid", "detail": "Must be a valid UUID.", "attr": "id"}
    assert answers[6]["error"] == uuid_error
    assert answers[7]["error"]["attr"] == "ref_timestamp"
    assert answers[8]["error"]["detail"] == "Invalid data. Expected a dictionary, but got list."
    assert summary == {
        "summary": True,
        "lines": 9,
        "created": 1,
        "updated": 0,
        "unchanged": 1,
        "duplicate": 0,
        "conflict": 3,
        "rejected": 4,
    }
    # Untouched: the changed line was a conflict, and the other team's item is theirs.
    mine = {item["id"]: item for item in await live_items(api, urls, dataset["id"])}
    assert mine[changed]["input"] == "before"
    check = await other_api.get(Urls(other.team.id).item(their_item["id"]))
    assert check.json()["input"] == "secret"

    answers, summary = await post_import(
        api,
        urls,
        dataset["id"],
        ndjson({"id": changed, "input": "after"}, {"id": their_item["id"], "input": "x"}),
        mode="upsert",
    )
    assert [a["status"] for a in answers] == ["updated", "conflict"]
    mine = {item["id"]: item for item in await live_items(api, urls, dataset["id"])}
    assert mine[changed]["input"] == "after"
    assert mine[changed]["updated_at"] > mine[changed]["created_at"]
    assert (await other_api.get(Urls(other.team.id).item(their_item["id"]))).json()[
        "input"
    ] == "secret"
    assert await item_count(api, urls, dataset["id"]) == 3


async def test_same_id_twice_in_one_body(
    api: httpx.AsyncClient, urls: Urls, dataset: dict[str, Any]
) -> None:
    item_id = str(uuid.uuid4())
    body = ndjson({"id": item_id, "input": 1}, {"id": item_id, "input": 1}, {"id": item_id})
    answers, _ = await post_import(api, urls, dataset["id"], body)
    assert [a["status"] for a in answers] == ["created", "unchanged", "conflict"]


async def test_batches_are_set_based_not_one_statement_per_line(
    app: Any, api: httpx.AsyncClient, urls: Urls, dataset: dict[str, Any], sql_log: StatementLog
) -> None:
    app.state.settings = app.state.settings.model_copy(update={"import_batch_size": 100})
    ids = _ids()
    body = ndjson(*({"id": next(ids), "input": n} for n in range(250)))
    sql_log.clear()
    _, summary = await post_import(api, urls, dataset["id"], body)
    assert summary["created"] == 250
    inserts = [s for s in (await sql_log.settled()).statements if "INSERT INTO dataset_items" in s]
    assert len(inserts) == 3


# --- atomic -----------------------------------------------------------------------------------


async def test_atomic_import_is_all_or_nothing(
    app: Any, api: httpx.AsyncClient, urls: Urls, dataset: dict[str, Any]
) -> None:
    app.state.settings = app.state.settings.model_copy(update={"import_batch_size": 2})
    body = ndjson(*({"input": n} for n in range(5))) + b"{broken\n" + ndjson({"input": 9})
    answers, summary = await post_import(api, urls, dataset["id"], body, atomic="true")
    assert [a["status"] for a in answers] == ["created"] * 5 + ["rejected", "created"]
    assert summary["committed"] is False
    assert await live_items(api, urls, dataset["id"]) == []
    assert await item_count(api, urls, dataset["id"]) == 0

    # Without atomic, the same body keeps every good line.
    _, summary = await post_import(api, urls, dataset["id"], body)
    assert "committed" not in summary
    assert await item_count(api, urls, dataset["id"]) == 6

    _, summary = await post_import(api, urls, dataset["id"], ndjson({"input": 1}), atomic="true")
    assert summary["committed"] is True
    assert await item_count(api, urls, dataset["id"]) == 7


# --- dedupe -----------------------------------------------------------------------------------


async def test_dedupe_by_content(
    api: httpx.AsyncClient, urls: Urls, dataset: dict[str, Any], session: AsyncSession
) -> None:
    existing = await create_item(
        api, urls, dataset["id"], input={"b": 1, "a": [1, 2]}, output="yes", metadata={"m": 1}
    )
    deleted = await create_item(api, urls, dataset["id"], input="gone", output=None)
    patched = await api.patch(urls.item(deleted["id"]), json={"deleted": True})
    assert patched.status_code == 200
    body = ndjson(
        # Same input and output, keys in another order, other metadata: a duplicate.
        {"input": {"a": [1, 2], "b": 1}, "output": "yes", "metadata": {"m": 2}},
        {"input": "fresh", "output": "x"},
        {"input": "fresh", "output": "x"},
        {"input": "fresh", "output": "y"},
        # A soft-deleted item is not a live one: importing its content again creates it.
        {"input": "gone", "output": None},
    )
    answers, summary = await post_import(api, urls, dataset["id"], body, dedupe="content")
    assert [a["status"] for a in answers] == [
        "duplicate",
        "created",
        "duplicate",
        "created",
        "created",
    ]
    assert answers[0]["duplicate_of"] == existing["id"]
    assert answers[2]["duplicate_of"] == answers[1]["id"]
    assert summary["duplicate"] == 2
    assert summary["created"] == 3

    # A later import sees the earlier one's items too; without dedupe, duplicates are written.
    again, _ = await post_import(
        api, urls, dataset["id"], ndjson({"input": "fresh", "output": "y"}), dedupe="content"
    )
    assert again[0] == {
        "line": 1,
        "id": None,
        "status": "duplicate",
        "duplicate_of": answers[3]["id"],
    }
    repeat = ndjson({"input": "fresh", "output": "y"})
    plain, _ = await post_import(api, urls, dataset["id"], repeat)
    assert plain[0]["status"] == "created"


async def test_content_hash_is_kept_on_every_write_path(
    api: httpx.AsyncClient, urls: Urls, dataset: dict[str, Any], session: AsyncSession
) -> None:
    async def digest(item_id: str) -> bytes:
        row = await session.execute(
            text("SELECT content_hash FROM dataset_items WHERE id = :id"), {"id": item_id}
        )
        value: bytes = row.scalar_one()
        return value

    created = await create_item(api, urls, dataset["id"], input={"x": 1}, output=[1])
    body = ndjson({"input": {"x": 1}, "output": [1]})
    answers, _ = await post_import(api, urls, dataset["id"], body)
    assert await digest(created["id"]) == await digest(answers[0]["id"])
    before = await digest(created["id"])
    response = await api.patch(urls.item(created["id"]), json={"output": [2]})
    assert response.status_code == 200
    assert await digest(created["id"]) != before
    response = await api.patch(urls.item(created["id"]), json={"output": [1]})
    assert await digest(created["id"]) == before


# --- refusals and limits -------------------------------------------------------------------------


async def test_refusals_before_anything_is_written(
    api: httpx.AsyncClient,
    other_api: httpx.AsyncClient,
    urls: Urls,
    other: Identity,
    dataset: dict[str, Any],
    session: AsyncSession,
    identity: Identity,
) -> None:
    url = import_url(urls, dataset["id"])
    body = ndjson({"input": 1})
    response = await api.post(url, content=body, headers={"content-type": "text/plain"})
    assert_error(response, 415, None, "unsupported_media_type")
    response = await api.post(url, content=b"\xff\xfe{}\n", headers={"content-type": NDJSON})
    assert_error(response, 400, None, "parse_error")
    response = await api.post(
        url, content=body, headers={"content-type": NDJSON}, params={"mode": "replace"}
    )
    assert response.status_code == 400
    response = await api.post(
        url, content=body, headers={"content-type": NDJSON}, params={"colour": "red"}
    )
    assert_error(response, 400, "colour", "invalid_parameter")
    for missing in (str(uuid.uuid4()), "not-a-uuid"):
        response = await api.post(
            import_url(urls, missing), content=body, headers={"content-type": NDJSON}
        )
        assert_error(response, 404, None, "not_found")
    # Another team's dataset is unknown here; ours is unknown to them.
    theirs = await create_dataset(other_api, Urls(other.team.id), name="theirs")
    response = await api.post(
        import_url(urls, theirs["id"]), content=body, headers={"content-type": NDJSON}
    )
    assert_error(response, 404, None, "not_found")
    response = await other_api.post(
        f"/api/environments/{other.team.id}/datasets/{dataset['id']}/items/import/",
        content=body,
        headers={"content-type": NDJSON},
    )
    assert_error(response, 404, None, "not_found")
    # Scope: importing needs dataset:write.
    reader = await add_key(session, identity, scopes=["dataset:read"])
    await session.commit()
    response = await api.post(url, content=body, headers={"content-type": NDJSON, **bearer(reader)})
    assert response.status_code == 403
    response = await api.get(url)
    assert response.status_code == 405
    assert await item_count(api, urls, dataset["id"]) == 0


async def test_line_limits(
    app: Any, api: httpx.AsyncClient, urls: Urls, dataset: dict[str, Any]
) -> None:
    app.state.settings = app.state.settings.model_copy(
        update={"import_max_line_bytes": 100, "import_max_lines": 4}
    )
    body = (
        ndjson({"input": "short"})
        + b'{"input": "'
        + b"x" * 500
        + b'"}\n'
        + ndjson({"input": "after the long one"}, {"input": 3}, {"input": 4}, {"input": 5})
    )
    answers, summary = await post_import(api, urls, dataset["id"], body)
    assert [(a["line"], a["status"]) for a in answers] == [
        (1, "created"),
        (2, "rejected"),
        (3, "created"),
        (4, "created"),
    ]
    assert answers[1]["error"]["code"] == "line_too_long"
    assert summary["error"]["code"] == "too_many_lines"
    assert await item_count(api, urls, dataset["id"]) == 3


async def test_the_request_size_limit_does_not_apply(
    settings: Settings, sessionmaker: Any, engine: Any, identity: Identity, urls: Urls
) -> None:
    small = settings.model_copy(update={"max_request_bytes": 2000})
    application = create_app(small, sessionmaker=sessionmaker)
    transport = httpx.ASGITransport(app=application)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://testserver", headers=identity.headers
    ) as client:
        target = await create_dataset(client, urls, name="big")
        body = ndjson(*({"input": "y" * 100} for _ in range(300)))
        assert len(body) > 10 * small.max_request_bytes
        _, summary = await post_import(client, urls, target["id"], body)
        assert summary["created"] == 300
        # Every other route keeps the limit.
        big_item = {"dataset": target["id"], "input": "z" * 3000}
        response = await client.post(urls.items, json=big_item)
        assert response.status_code == 413
    await application.state.http_client.aclose()


# --- a client that goes away ------------------------------------------------------------------


async def _asgi_post(
    app: Any, path: str, headers: list[tuple[bytes, bytes]], chunks: list[bytes], complete: bool
) -> bytes:
    """Call the app the way a server would; without `complete`, the client disconnects after
    the chunks (no final `more_body: False`)."""
    messages = [{"type": "http.request", "body": chunk, "more_body": True} for chunk in chunks]
    if complete:
        messages.append({"type": "http.request", "body": b"", "more_body": False})
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if messages:
            return messages.pop(0)
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    await app(scope, receive, send)
    assert sent[0]["status"] == 200
    return b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")


async def test_disconnect_mid_body_keeps_acknowledged_batches_and_rerun_resumes(
    app: Any, api: httpx.AsyncClient, urls: Urls, identity: Identity, dataset: dict[str, Any]
) -> None:
    app.state.settings = app.state.settings.model_copy(update={"import_batch_size": 4})
    ids = [str(uuid.uuid4()) for _ in range(7)]
    lines = ndjson(*({"id": item_id, "input": n} for n, item_id in enumerate(ids)))
    cut = lines.index(ids[6].encode()) + 10  # inside the last line
    headers = [
        (b"authorization", f"Bearer {identity.api_key}".encode()),
        (b"content-type", NDJSON.encode()),
    ]
    path = import_url(urls, dataset["id"])
    received = await _asgi_post(app, path, headers, [lines[:200], lines[200:cut]], complete=False)
    answered = [orjson.loads(line) for line in received.splitlines()]
    acknowledged = [a["id"] for a in answered if a.get("status") == "created"]
    # Whole batches only: lines 1-6 arrived complete, but only the first batch of four was
    # full; the second (lines 5-6) was never written, nor was the cut line 7.
    assert acknowledged == ids[:4]
    assert answered[-1]["id"] == ids[3]
    stored = {item["id"] for item in await live_items(api, urls, dataset["id"])}
    assert stored == set(acknowledged)
    assert await item_count(api, urls, dataset["id"]) == len(acknowledged)

    answers, summary = await post_import(api, urls, dataset["id"], lines)
    statuses = {a["id"]: a["status"] for a in answers}
    assert all(statuses[item_id] == "unchanged" for item_id in acknowledged)
    assert all(statuses[item_id] == "created" for item_id in ids if item_id not in acknowledged)
    assert summary["created"] + summary["unchanged"] == 7
    assert await item_count(api, urls, dataset["id"]) == 7


# --- export and the round trip ----------------------------------------------------------------


async def _export(
    api: httpx.AsyncClient, urls: Urls, dataset_id: str, **params: str
) -> httpx.Response:
    response = await api.get(export_url(urls, dataset_id), params=params)
    assert response.status_code == 200, response.text
    return response


AWKWARD = [
    None,
    "",
    0,
    -1.5e-7,
    2**63,
    1e300,
    True,
    [1, "two", None, {"nested": [[], {}]}],
    {"unicode": "日本語 🚀 \u2028", "quotes": 'say "hi" \\ back', "new\nline": "a,b"},
    {"b": 1, "a": 2, "": "empty key"},
    "plain, with comma",
]


async def _fill(api: httpx.AsyncClient, urls: Urls, dataset_id: str) -> list[dict[str, Any]]:
    created = []
    for n, value in enumerate(AWKWARD):
        created.append(
            await create_item(
                api,
                urls,
                dataset_id,
                input=value,
                output=AWKWARD[-1 - n],
                metadata={"n": n},
                ref_trace_id=f"trace-{n}" if n % 2 else None,
                ref_timestamp="2026-03-04T05:06:07.000008Z" if n % 3 else None,
            )
        )
    return created


async def test_export_ndjson_and_csv(
    api: httpx.AsyncClient, urls: Urls, dataset: dict[str, Any]
) -> None:
    created = await _fill(api, urls, dataset["id"])
    gone = created[1]["id"]
    assert (await api.patch(urls.item(gone), json={"deleted": True})).status_code == 200

    response = await _export(api, urls, dataset["id"])
    assert response.headers["content-type"].startswith(NDJSON)
    disposition = response.headers["content-disposition"]
    assert disposition.startswith('attachment; filename="bulk-home-golden-set-')
    assert disposition.endswith('.ndjson"')
    # `json`, as httpx reads the API's answers: orjson reads 10**300 as a float.
    lines = [json.loads(line) for line in response.content.splitlines()]
    assert [line["id"] for line in lines] == [c["id"] for c in created if c["id"] != gone]
    assert set(lines[0]) == {
        "id",
        "input",
        "output",
        "metadata",
        "ref_trace_id",
        "ref_source_id",
        "ref_timestamp",
        "deleted",
    }
    by_id = {c["id"]: c for c in created}
    for line in lines:
        original = by_id[line["id"]]
        for key in ("input", "output", "metadata", "ref_trace_id", "ref_timestamp"):
            assert line[key] == original[key], key

    everything = await _export(api, urls, dataset["id"], include_deleted="true")
    rows = [orjson.loads(line) for line in everything.content.splitlines()]
    assert len(rows) == len(created)
    assert [row["deleted"] for row in rows].count(True) == 1

    as_csv = await _export(api, urls, dataset["id"], format="csv")
    assert as_csv.headers["content-type"].startswith("text/csv")
    assert as_csv.headers["content-disposition"].endswith('.csv"')
    records = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert [r["id"] for r in records] == [line["id"] for line in lines]
    assert json.loads(records[0]["input"]) == lines[0]["input"]
    assert records[0]["deleted"] == "false"


async def test_export_refusals(
    api: httpx.AsyncClient,
    other_api: httpx.AsyncClient,
    other: Identity,
    urls: Urls,
    dataset: dict[str, Any],
    unrelated_headers: dict[str, str],
) -> None:
    response = await other_api.get(
        f"/api/environments/{other.team.id}/datasets/{dataset['id']}/items/export/"
    )
    assert_error(response, 404, None, "not_found")
    response = await api.get(export_url(urls, dataset["id"]), headers=unrelated_headers)
    assert response.status_code == 403
    response = await api.get(export_url(urls, dataset["id"]), params={"format": "xml"})
    assert response.status_code == 400
    # The /api/projects/ alias serves the same export.
    response = await api.get(f"/api/projects/{urls.team_id}/datasets/{dataset['id']}/items/export/")
    assert response.status_code == 200


@pytest.mark.parametrize("fmt", ["ndjson", "csv"])
async def test_round_trip_into_a_new_dataset(
    api: httpx.AsyncClient, urls: Urls, dataset: dict[str, Any], fmt: str
) -> None:
    await _fill(api, urls, dataset["id"])
    first = (await _export(api, urls, dataset["id"], format=fmt)).content
    content_type = NDJSON if fmt == "ndjson" else "text/csv"

    # Within one service ids are unique across datasets: the copy gets fresh ids.
    copy = await create_dataset(api, urls, name="copy")
    _, summary = await post_import(api, urls, copy["id"], first, content_type, ids="new")
    assert summary["created"] == len(AWKWARD)
    second = (await _export(api, urls, copy["id"], format=fmt)).content
    assert _without_ids(second, fmt) == _without_ids(first, fmt)
    assert second != first

    # Importing the export again (same ids) into another dataset: the ids are taken.
    elsewhere = await create_dataset(api, urls, name="elsewhere")
    _, summary = await post_import(api, urls, elsewhere["id"], first, content_type)
    assert summary["conflict"] == len(AWKWARD)


async def test_round_trip_is_byte_identical_when_the_ids_are_free(
    api: httpx.AsyncClient, urls: Urls, dataset: dict[str, Any], session: AsyncSession
) -> None:
    await _fill(api, urls, dataset["id"])
    exported = (await _export(api, urls, dataset["id"])).content
    # As when restoring into another service: the ids are not taken there.
    delete = text("DELETE FROM dataset_items WHERE dataset_id = :d")
    await session.execute(delete, {"d": dataset["id"]})
    await session.commit()
    assert await item_count(api, urls, dataset["id"]) == 0
    target = await create_dataset(api, urls, name="restored")
    _, summary = await post_import(api, urls, target["id"], exported)
    assert summary["created"] == len(AWKWARD)
    again = (await _export(api, urls, target["id"])).content
    assert again == exported


def _ids_of(body: bytes, fmt: str) -> list[str]:
    if fmt == "ndjson":
        return [orjson.loads(line)["id"] for line in body.splitlines()]
    return [row["id"] for row in csv.DictReader(io.StringIO(body.decode()))]


def _without_ids(body: bytes, fmt: str) -> bytes:
    text_ = body.decode()
    for item_id in _ids_of(body, fmt):
        text_ = text_.replace(item_id, "ID")
    return text_.encode()


# --- item_count -------------------------------------------------------------------------------


async def test_item_count_follows_every_write(
    api: httpx.AsyncClient, urls: Urls, dataset: dict[str, Any]
) -> None:
    other = await create_dataset(api, urls, name="other")
    first = await create_item(api, urls, dataset["id"], input=1)
    await create_item(api, urls, dataset["id"], input=2)
    assert await item_count(api, urls, dataset["id"]) == 2
    assert (await api.patch(urls.item(first["id"]), json={"deleted": True})).status_code == 200
    assert await item_count(api, urls, dataset["id"]) == 1
    assert (await api.patch(urls.item(first["id"]), json={"deleted": False})).status_code == 200
    assert await item_count(api, urls, dataset["id"]) == 2
    moved = await api.patch(urls.item(first["id"]), json={"dataset": other["id"]})
    assert moved.status_code == 200
    assert await item_count(api, urls, dataset["id"]) == 1
    assert await item_count(api, urls, other["id"]) == 1
    listed = await api.get(urls.datasets)
    counts = {d["id"]: d["item_count"] for d in listed.json()["results"]}
    assert counts == {dataset["id"]: 1, other["id"]: 1}
    patched = await api.patch(urls.dataset(dataset["id"]), json={"name": "renamed"})
    assert patched.json()["item_count"] == 1


async def test_values_nested_too_deep_or_holding_nul_are_rejected_lines(
    api: httpx.AsyncClient, urls: Urls, dataset: dict[str, Any]
) -> None:
    """The same rules as a JSON body: the depth limit and no U+0000 (jsonb cannot store it)."""
    deep: Any = "leaf"
    for _ in range(100):
        deep = [deep]
    body = ndjson({"input": deep}, {"input": {"a": ["fine", "x\u0000y"]}}, {"input": [[["ok"]]]})
    answers, summary = await post_import(api, urls, dataset["id"], body)
    assert [a["status"] for a in answers] == ["rejected", "rejected", "created"]
    assert answers[0]["error"]["code"] == "max_depth"
    assert answers[0]["error"]["attr"] == "input"
    assert answers[1]["error"]["code"] == "null_characters_not_allowed"
    assert summary["created"] == 1
    assert await item_count(api, urls, dataset["id"]) == 1
