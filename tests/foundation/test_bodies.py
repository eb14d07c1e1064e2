"""Request bodies: decoded only after authentication, off the event loop when large, and held to
the limits (nesting depth, NUL characters) with a 400 rather than a 500."""

from __future__ import annotations

import asyncio
import time
import tracemalloc
from typing import Any

import httpx

from app.web.bodies import MAX_JSON_DEPTH
from tests.factories import Identity

FORM = {"content-type": "application/x-www-form-urlencoded"}
JSON = {"content-type": "application/json"}


def probes(identity: Identity) -> str:
    return f"/api/environments/{identity.team.id}/probes/"


def nested(depth: int, leaf: Any = 0) -> Any:
    value = leaf
    for _ in range(depth):
        value = [value]
    return value


def nested_text(depth: int, leaf: str = "0") -> bytes:
    return ("[" * depth + leaf + "]" * depth).encode()


async def _peak_bytes(
    client: httpx.AsyncClient, url: str, body: bytes, headers: dict[str, str]
) -> int:
    """The most memory Python held at once while the app answered one request."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before, _ = tracemalloc.get_traced_memory()
        response = await client.post(url, content=body, headers=headers)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert response.status_code in (400, 401), response.text
    return peak - before


async def test_an_anonymous_body_is_answered_401_without_being_parsed(
    client: httpx.AsyncClient, identity: Identity
) -> None:
    # 1 MiB of form fields: parsing it builds ~260,000 Python strings and pairs.
    body = b"a=1&" * (256 * 1024)
    anonymous = await _peak_bytes(client, probes(identity), body, FORM)
    parsed = await _peak_bytes(client, probes(identity), body, {**FORM, **identity.headers})
    # Reading the body costs a few copies of it; parsing it costs tens of times its size.
    assert parsed > 20 * len(body)
    assert anonymous < 8 * len(body) < parsed / 2

    # A malformed body, a body nesting past every limit, a NUL deep inside: all simply 401.
    for junk in (b"{" * 5000, nested_text(980, '"\\u0000"'), b'{"name": ' + b"9" * 100_000):
        response = await client.post(probes(identity), content=junk, headers=JSON)
        assert response.status_code == 401, response.text


async def test_a_large_body_is_decoded_off_the_event_loop(
    client: httpx.AsyncClient, identity: Identity
) -> None:
    """While a 10 MB body is being decoded, other requests keep answering quickly."""
    body = b"name=x&" + b"a=1&" * (2_500_000)
    posted = asyncio.create_task(
        client.post(probes(identity), content=body, headers={**FORM, **identity.headers})
    )
    latencies = []
    while not posted.done():
        started = time.perf_counter()
        response = await client.get("/healthz")
        latencies.append(time.perf_counter() - started)
        assert response.status_code == 200
        await asyncio.sleep(0.01)
    response = await posted
    assert response.status_code == 201, response.text
    # The decoding took a while (so the probes overlapped it), yet no probe waited for it.
    assert len(latencies) >= 10
    assert max(latencies) < 0.5, max(latencies)


async def test_nesting_deeper_than_the_limit_is_400(
    api: httpx.AsyncClient, identity: Identity
) -> None:
    datasets = f"/api/environments/{identity.team.id}/datasets/"
    # The body object is level 1, so `metadata` may nest MAX_JSON_DEPTH - 1 levels.
    deepest = {"name": "deep", "metadata": nested(MAX_JSON_DEPTH - 1)}
    response = await api.post(datasets, json=deepest)
    assert response.status_code == 201, response.text
    assert response.json()["metadata"] == deepest["metadata"]

    for depth in (MAX_JSON_DEPTH, 1000, 1023):
        body = b'{"name": "x", "metadata": ' + nested_text(depth) + b"}"
        response = await api.post(datasets, content=body, headers=JSON)
        assert response.status_code == 400, (depth, response.text)
        assert response.json() == {
            "type": "validation_error",
            "code": "max_depth",
            "detail": f"JSON nesting is too deep: at most {MAX_JSON_DEPTH} levels are allowed.",
            "attr": "metadata",
        }
    # Past what the parser itself accepts: a parse error, still a 400.
    too_deep = b'{"name": "x", "metadata": ' + nested_text(3000) + b"}"
    response = await api.post(datasets, content=too_deep, headers=JSON)
    assert response.status_code == 400
    assert response.json()["code"] == "parse_error"


async def test_deep_values_in_items_and_evaluations_are_400(
    api: httpx.AsyncClient, identity: Identity
) -> None:
    team = identity.team.id
    dataset = (await api.post(f"/api/environments/{team}/datasets/", json={"name": "d"})).json()
    item = b'{"dataset": "%s", "input": %s, "output": {"a": %s}}' % (
        dataset["id"].encode(),
        nested_text(1000),
        nested_text(70),
    )
    items = f"/api/environments/{team}/dataset_items/"
    response = await api.post(items, content=item, headers=JSON)
    assert response.status_code == 400
    assert (response.json()["code"], response.json()["attr"]) == ("max_depth", "input")

    evaluation = b'{"name": "deep", "evaluation_config": {"prompt": "p"}, "conditions": %s}' % (
        nested_text(300)
    )
    url = f"/api/environments/{team}/evaluations/"
    response = await api.post(url, content=evaluation, headers=JSON)
    assert response.status_code == 400, response.text
    assert (response.json()["code"], response.json()["attr"]) == ("max_depth", "conditions")
    # Nothing was stored.
    listed = (await api.get(f"/api/environments/{team}/evaluations/")).json()
    assert listed["count"] == 0


async def test_a_deep_nul_is_400_not_a_crash(api: httpx.AsyncClient, identity: Identity) -> None:
    datasets = f"/api/environments/{identity.team.id}/datasets/"
    deep_nul = b'{"name": "x", "metadata": ' + nested_text(980, '"\\u0000"') + b"}"
    response = await api.post(datasets, content=deep_nul, headers=JSON)
    assert response.status_code == 400
    assert response.json()["code"] == "max_depth"
    # Within the depth limit the NUL itself is reported, with its path.
    shallow_nul = {"name": "x", "metadata": {"a": [1, {"b": "\u0000"}]}}
    response = await api.post(datasets, json=shallow_nul)
    assert response.status_code == 400
    assert response.json()["code"] == "null_characters_not_allowed"
    assert response.json()["attr"] == "metadata.a.1.b"
