"""JSON numbers come back exactly as sent, integers beyond 64 bits included, on every path that
stores client JSON: datasets, dataset items, evaluation conditions (create, read, list, patch)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import httpx

from app.web.jsonutil import dumps
from tests.factories import Identity

BIG = 123456789012345678901234567890
NUMBERS: dict[str, Any] = {
    "big": BIG,
    "negative": -BIG,
    "u64_max": 2**64 - 1,
    "past_u64": 2**64,
    "i64_min": -(2**63),
    "past_i64": -(2**63) - 1,
    "huge": 10**300,
    "float": 0.1,
    "list": [BIG, 1, 2**70],
}


def _post(api: httpx.AsyncClient, url: str, body: dict[str, Any]) -> Any:
    # httpx encodes with the standard library, which writes big integers exactly.
    return api.post(url, content=json.dumps(body), headers={"content-type": "application/json"})


def _patch(api: httpx.AsyncClient, url: str, body: dict[str, Any]) -> Any:
    return api.patch(url, content=json.dumps(body), headers={"content-type": "application/json"})


def _exact(response: httpx.Response) -> Any:
    assert response.status_code in (200, 201), response.text
    return json.loads(response.content)  # the standard library keeps big integers exact


async def test_dataset_metadata_keeps_big_integers(
    api: httpx.AsyncClient, identity: Identity
) -> None:
    base = f"/api/environments/{identity.team.id}/datasets/"
    created = _exact(await _post(api, base, {"name": "numbers", "metadata": NUMBERS}))
    assert created["metadata"] == NUMBERS
    assert _exact(await api.get(f"{base}{created['id']}/"))["metadata"] == NUMBERS
    assert _exact(await api.get(base))["results"][0]["metadata"] == NUMBERS
    patched = _exact(await _patch(api, f"{base}{created['id']}/", {"metadata": {"n": -BIG}}))
    assert patched["metadata"] == {"n": -BIG}
    assert _exact(await api.get(f"{base}{created['id']}/"))["metadata"] == {"n": -BIG}


async def test_dataset_item_values_keep_big_integers(
    api: httpx.AsyncClient, identity: Identity
) -> None:
    team = identity.team.id
    dataset = _exact(await api.post(f"/api/environments/{team}/datasets/", json={"name": "d"}))
    base = f"/api/environments/{team}/dataset_items/"
    body = {"dataset": dataset["id"], "input": BIG, "output": [NUMBERS], "metadata": NUMBERS}
    created = _exact(await _post(api, base, body))
    for field in ("input", "output", "metadata"):
        assert created[field] == body[field], field
    fetched = _exact(await api.get(f"{base}{created['id']}/"))
    assert (fetched["input"], fetched["output"], fetched["metadata"]) == (BIG, [NUMBERS], NUMBERS)
    patched = _exact(await _patch(api, f"{base}{created['id']}/", {"input": {"x": 2**100}}))
    assert patched["input"] == {"x": 2**100}
    assert _exact(await api.get(base))["results"][0]["input"] == {"x": 2**100}


async def test_evaluation_conditions_keep_big_integers(
    api: httpx.AsyncClient, identity: Identity
) -> None:
    base = f"/api/environments/{identity.team.id}/evaluations/"
    body = {"name": "n", "evaluation_config": {"prompt": "p"}, "conditions": [NUMBERS]}
    created = _exact(await _post(api, base, body))
    assert created["conditions"] == [NUMBERS]
    assert _exact(await api.get(f"{base}{created['id']}/"))["conditions"] == [NUMBERS]
    assert _exact(await api.get(base))["results"][0]["conditions"] == [NUMBERS]
    patched = _exact(await _patch(api, f"{base}{created['id']}/", {"conditions": {"n": BIG}}))
    assert patched["conditions"] == {"n": BIG}
    assert _exact(await api.get(f"{base}{created['id']}/"))["conditions"] == {"n": BIG}


async def test_form_and_small_bodies_are_unchanged(
    api: httpx.AsyncClient, identity: Identity
) -> None:
    """A long digit run inside a string is just text; small numbers stay integers."""
    base = f"/api/environments/{identity.team.id}/datasets/"
    metadata = {"trace": "1234567890123456789012345", "n": 7, "f": 1.5}
    created = _exact(await _post(api, base, {"name": "s", "metadata": metadata}))
    assert created["metadata"] == metadata
    form = await api.post(base, data={"name": "12345678901234567890123"})
    assert _exact(form)["name"] == "12345678901234567890123"


def test_the_response_encoder_writes_big_integers_exactly() -> None:
    value = {"n": [BIG, -BIG, 1, {"m": 2**64}], "at": dt.datetime(2026, 1, 2, tzinfo=dt.UTC)}
    encoded = dumps(value)
    assert json.loads(encoded) == {
        "n": [BIG, -BIG, 1, {"m": 2**64}],
        "at": "2026-01-02T00:00:00.000000Z",
    }
