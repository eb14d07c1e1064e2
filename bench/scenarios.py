"""The benchmarked requests, and the check that both contenders answer them identically."""

from __future__ import annotations

import random
import re
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import orjson

from bench.database import connect
from bench.driver import Request
from bench.seed import SEARCH_TERM, BenchData
from bench.servers import Server

DEPTH = 100_000
FLOOR = "floor_healthz"


@dataclass(frozen=True)
class Scenario:
    name: str
    title: str
    # Per contender: the cursor token is each one's own (they happen to be equal).
    requests: dict[str, list[Request]]
    # A closed loop of 32 clients on a page that takes ~1 s of database time answers its first
    # requests only after ~20 s: such a scenario is measured for longer, or not at all.
    min_seconds: float = 0.0


def _items_path(data: BenchData, query: str = "") -> str:
    path = f"/api/environments/{data.team_id}/dataset_items/?dataset={data.list_dataset}"
    return path + query


async def cursor_at_depth(server: Server, data: BenchData, api_key: str) -> str:
    """Walk `cursor` pages of 1000 from the start to DEPTH; return the token found there."""
    headers = {"Authorization": f"Bearer {api_key}"}
    url = server.base_url + _items_path(data, "&cursor=&limit=1000")
    async with httpx.AsyncClient(timeout=60, headers=headers) as client:
        for _ in range(DEPTH // 1000):
            response = await client.get(url)
            response.raise_for_status()
            url = response.json()["next"]
    token = httpx.URL(url).params["cursor"]
    return token


async def retrieve_ids(database_url: str, data: BenchData, count: int = 1000) -> list[uuid.UUID]:
    connection = await connect(database_url)
    try:
        rows = await connection.fetch(
            "SELECT id FROM dataset_items TABLESAMPLE SYSTEM (1) REPEATABLE (7) "
            "WHERE team_id = $1 AND NOT deleted LIMIT $2",
            data.team_id,
            count,
        )
    finally:
        await connection.close()
    return [row["id"] for row in rows]


def create_bodies(data: BenchData, count: int = 50) -> list[bytes]:
    rng = random.Random(5)
    bodies = []
    for n in range(count):
        body = {
            "dataset": str(data.write_dataset),
            "input": {
                "messages": [
                    {"role": "system", "content": "You are a careful support assistant. " * 4},
                    {"role": "user", "content": f"Where is my refund for order {n}? " * 6},
                ]
            },
            "output": {"role": "assistant", "content": "Your refund was issued today. " * 6},
            "metadata": {"source": "bench", "rating": rng.randint(1, 5), "tags": ["refund"]},
            "ref_trace_id": uuid.UUID(int=rng.getrandbits(128)).hex,
            "ref_source_id": f"gen_{n:06d}",
            "ref_timestamp": "2026-11-01T10:00:00.000000Z",
        }
        bodies.append(orjson.dumps(body))
    return bodies


def build(
    data: BenchData, cursors: dict[str, str], ids: list[uuid.UUID], bodies: list[bytes]
) -> list[Scenario]:
    team = data.team_id
    same = {name: name for name in cursors}

    def each(requests: list[Request]) -> dict[str, list[Request]]:
        return dict.fromkeys(same, requests)

    items = f"/api/environments/{team}/dataset_items/"
    return [
        Scenario(
            "list_offset_0", "list items, offset 0", each([Request("GET", _items_path(data))])
        ),
        Scenario(
            "list_offset_100k",
            "list items, offset 100 000 (measured 60 s)",
            each([Request("GET", _items_path(data, f"&offset={DEPTH}"))]),
            min_seconds=60,
        ),
        Scenario(
            "list_cursor_100k",
            "list items, cursor at depth 100 000",
            {k: [Request("GET", _items_path(data, f"&cursor={v}"))] for k, v in cursors.items()},
        ),
        Scenario(
            "retrieve_item",
            "retrieve an item",
            each([Request("GET", f"{items}{item_id}/") for item_id in ids]),
        ),
        Scenario(
            "create_item", "create an item", each([Request("POST", items, body) for body in bodies])
        ),
        Scenario(
            "list_datasets_search",
            f"list datasets, search={SEARCH_TERM}",
            each([Request("GET", f"/api/environments/{team}/datasets/?search={SEARCH_TERM}")]),
        ),
        # No database, no authentication: what the HTTP stack alone costs each contender
        # (FastAPI with the service's middleware against a bare Starlette route).
        Scenario(FLOOR, "no database: /healthz, for reference", each([Request("GET", "/healthz")])),
    ]


def _normalised(body: Any, base_url: str) -> Any:
    """Links without their host; cursor tokens are each contender's own opaque encoding."""
    if isinstance(body, dict):
        return {k: _normalised(v, base_url) for k, v in body.items()}
    if isinstance(body, list):
        return [_normalised(v, base_url) for v in body]
    if isinstance(body, str) and body.startswith(base_url):
        return re.sub(r"cursor=[^&]+", "cursor=<token>", body.removeprefix(base_url))
    return body


def first_difference(a: Any, b: Any, path: str = "") -> str | None:
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            found = first_difference(a.get(key), b.get(key), f"{path}.{key}")
            if found:
                return found
        return None
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return f"{path}: {len(a)} vs {len(b)} elements"
        for n, (x, y) in enumerate(zip(a, b, strict=True)):
            found = first_difference(x, y, f"{path}[{n}]")
            if found:
                return found
        return None
    return None if a == b else f"{path or 'body'}: {str(a)[:200]!r} vs {str(b)[:200]!r}"


async def check_same_answers(
    servers: dict[str, Server], scenarios: list[Scenario], api_key: str
) -> list[str]:
    """Each scenario's first request, sent to every contender: the answers must be equal.

    Created items differ only in their id and timestamps.
    """
    headers = {"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"}
    problems = []
    answers_by_scenario: dict[str, Any] = {}
    async with httpx.AsyncClient(timeout=120, headers=headers) as client:
        for scenario in scenarios:
            answers = {}
            for name, server in servers.items():
                request = scenario.requests[name][0]
                response = await client.request(
                    request.method, server.base_url + request.path, content=request.body
                )
                body = _normalised(response.json(), server.base_url)
                if request.method == "POST":
                    for volatile in ("id", "created_at", "updated_at"):
                        body.pop(volatile, None)
                answers[name] = (response.status_code, body)
            (first_status, first), *others = answers.values()
            if first_status >= 300:
                problems.append(f"{scenario.name}: status {first_status}: {str(first)[:300]}")
            answers_by_scenario[scenario.name] = first
            for status, other in others:
                difference = first_difference(first, other)
                if status != first_status or difference:
                    problems.append(
                        f"{scenario.name}: status {first_status} vs {status}; {difference}"
                    )
    # The cursor found by walking must land on the page offset 100 000 shows.
    deep = [answers_by_scenario.get(name) for name in ("list_offset_100k", "list_cursor_100k")]
    if all(deep) and deep[0]["results"] != deep[1]["results"]:
        problems.append("the cursor page at depth 100 000 is not the offset-100 000 page")
    return problems
